"""Who has answered: per unit, the roster against the responses imported so far (docs/design.md §1.2).

A response counts on the day it was completed (Asia/Ho_Chi_Minh), so ``--as-of`` replays the past.
A unit complies when the share of its roster that responded reaches the campaign's threshold; a unit
with nobody on the roster has nobody to chase and counts as compliant (``status`` shows it as 0/0).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from congvan.vndate import VIETNAM

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from congvan.config import LoadedCampaign


class Official(NamedTuple):
    """Someone on the roster who has not answered. A named tuple: a province's run lists tens of thousands,
    and a frozen dataclass costs three times as much to make."""

    staff_id: str
    name: str
    position: str
    unit: str
    email: str | None = None


@dataclass(frozen=True)
class UnitCompliance:
    code: str
    name: str
    required: int
    responded: int
    missing: tuple[Official, ...]  # in roster order
    threshold: float

    @property
    def rate(self) -> float:
        return 1.0 if self.required == 0 else self.responded / self.required

    @property
    def compliant(self) -> bool:
        # Compare in whole people, not floats: 0.8 of 10 is 8 people, whatever 8/10 rounds to.
        return self.responded >= self.threshold * self.required - 1e-9


@dataclass(frozen=True)
class Compliance:
    campaign: str
    as_of: dt.date
    units: tuple[UnitCompliance, ...]  # in units.yaml order, addressees of the dispatch only
    unknown_responses: int = 0  # responses whose staff_id is not on the roster (reported, kept)

    def unit(self, code: str) -> UnitCompliance:
        return next(u for u in self.units if u.code == code)

    @property
    def required(self) -> int:
        return sum(u.required for u in self.units)

    @property
    def responded(self) -> int:
        return sum(u.responded for u in self.units)


def end_of_day(day: dt.date) -> dt.datetime:
    """The last instant of ``day`` in Vietnam: a response completed by then counts for that day."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=VIETNAM)


def compute(engine: Engine, lc: LoadedCampaign, as_of: dt.date, *, names: bool = True) -> Compliance:
    """Each addressed unit's required / responded / missing as of the end of ``as_of``.

    Aggregate queries, so ``status`` on a roster of 100,000 reads 2,000 rows, not 100,000: the counts per unit
    (a GROUP BY), and the responses in time. ``names`` also lists every official who has not answered (plain
    rows of the missing only, in roster order), and then the counts come from those rows and the roster's size
    per unit instead; ``names=False`` leaves ``missing`` empty. The counts come from the index of revision 0006
    alone (docs/design.md §1.2).
    """
    import sqlalchemy as sa  # here: the dataclasses above serve `validate`, which reads no database

    from congvan.store.db import core_transaction
    from congvan.store.tables import responses, staff

    threshold = lc.campaign.follow_up.threshold if lc.campaign.follow_up else 1.0
    # Stored in UTC (SQLite keeps no offset, so compare with a UTC value on both databases).
    cutoff = end_of_day(as_of).astimezone(dt.UTC)
    in_time = sa.and_(responses.c.campaign == lc.name, responses.c.completed_at < cutoff)
    # Who answered in time: the roster says when each official answered (staff.answered_at, kept by the imports
    # from the responses), so neither query looks anything up per official.
    answered = staff.c.answered_at < cutoff
    not_answered = sa.or_(staff.c.answered_at.is_(None), staff.c.answered_at >= cutoff)
    counts: dict[str, tuple[int, int]] = {}  # unit (upper case: codes compare in any case) -> required, responded
    missing_by_unit: dict[str, list[Official]] = {}  # the same, in roster order
    with core_transaction(engine) as conn:
        if names:
            by_spelling: dict[str, list[Official]] = {}  # the unit as the roster spells it -> its unit's list
            for staff_id, name, position, unit, email in conn.execute(
                    sa.select(staff.c.staff_id, staff.c.name, staff.c.position, staff.c.unit, staff.c.email)
                    .where(staff.c.campaign == lc.name, not_answered).order_by(staff.c.id)).all():  # one fetchall
                found = by_spelling.get(unit)
                if found is None:
                    found = by_spelling[unit] = missing_by_unit.setdefault(unit.upper(), [])
                found.append(Official(staff_id, name, position, unit, email))  # unit: the code's spelling, below
            totals: dict[str, int] = {}
            for unit, total in conn.execute(sa.select(staff.c.unit, sa.func.count())
                                            .where(staff.c.campaign == lc.name).group_by(staff.c.unit)):
                totals[unit.upper()] = totals.get(unit.upper(), 0) + total
            counts = {u: (total, total - len(missing_by_unit.get(u, ()))) for u, total in totals.items()}
        else:
            for unit, total, responded in conn.execute(
                    sa.select(staff.c.unit, sa.func.count(), sa.func.count(sa.case((answered, 1))))
                    .where(staff.c.campaign == lc.name).group_by(staff.c.unit)):
                before = counts.get(unit.upper(), (0, 0))
                counts[unit.upper()] = (before[0] + total, before[1] + responded)
        # (campaign, staff_id) is unique in both tables: a response in time either answers one official or
        # names nobody on the roster.
        in_time_total = conn.scalar(sa.select(sa.func.count()).select_from(responses).where(in_time)) or 0
    unknown_responses = in_time_total - sum(responded for _, responded in counts.values())
    units = []
    for addressee in lc.addressees:
        code = addressee.unit.code
        required, responded = counts.get(code.upper(), (0, 0))
        missing = missing_by_unit.get(code.upper(), [])
        if any(o.unit != code for o in missing):  # the roster spelt the code in another case
            missing = [o._replace(unit=code) for o in missing]
        units.append(UnitCompliance(code=code, name=addressee.unit.name, required=required, responded=responded,
                                    missing=tuple(missing), threshold=threshold))
    return Compliance(campaign=lc.name, as_of=as_of, units=tuple(units), unknown_responses=unknown_responses)
