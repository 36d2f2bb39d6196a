"""Who has answered: per unit, the roster against the responses imported so far (docs/design.md §1.2).

A response counts on the day it was completed (Asia/Ho_Chi_Minh), so ``--as-of`` replays the past.
A unit complies when the share of its roster that responded reaches the campaign's threshold; a unit
with nobody on the roster has nobody to chase and counts as compliant (``status`` shows it as 0/0).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.config import LoadedCampaign
from congvan.store.db import transaction
from congvan.store.models import Response, Staff
from congvan.vndate import VIETNAM


@dataclass(frozen=True)
class Official:
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

    The counts come from one aggregate query (a join grouped by unit), so ``status`` on a roster of 100,000
    reads 2,000 rows, not 100,000. ``names`` also lists every official who has not answered (plain rows of
    the missing only, in roster order); ``names=False`` leaves ``missing`` empty.
    """
    threshold = lc.campaign.follow_up.threshold if lc.campaign.follow_up else 1.0
    # Stored in UTC (SQLite keeps no offset, so compare with a UTC value on both databases).
    cutoff = end_of_day(as_of).astimezone(dt.UTC)
    answered = sa.and_(Response.campaign == Staff.campaign, Response.staff_id == Staff.staff_id,
                       Response.completed_at < cutoff)
    unknown = (sa.select(sa.func.count()).select_from(Response)
               .where(Response.campaign == lc.name, Response.completed_at < cutoff,
                      ~sa.exists().where(Staff.campaign == lc.name, Staff.staff_id == Response.staff_id)))
    counts: dict[str, tuple[int, int]] = {}
    missing_by_unit: dict[str, list[tuple[str, str, str, str | None]]] = {}
    with transaction(engine) as session:
        for unit, total, responded in session.execute(
                sa.select(Staff.unit, sa.func.count(), sa.func.count(Response.id))
                .outerjoin(Response, answered).where(Staff.campaign == lc.name).group_by(Staff.unit)):
            before = counts.get(unit.upper(), (0, 0))  # codes compare in any case
            counts[unit.upper()] = (before[0] + total, before[1] + responded)
        if names:
            for staff_id, name, position, unit, email in session.execute(
                    sa.select(Staff.staff_id, Staff.name, Staff.position, Staff.unit, Staff.email)
                    .where(Staff.campaign == lc.name, ~sa.exists().where(answered)).order_by(Staff.id)):
                missing_by_unit.setdefault(unit.upper(), []).append((staff_id, name, position, email))
        unknown_responses = session.scalar(unknown) or 0
    units = []
    for addressee in lc.addressees:
        code = addressee.unit.code
        required, responded = counts.get(code.upper(), (0, 0))
        missing = tuple(Official(staff_id, name, position, code, email)
                        for staff_id, name, position, email in missing_by_unit.get(code.upper(), ()))
        units.append(UnitCompliance(code=code, name=addressee.unit.name, required=required, responded=responded,
                                    missing=missing, threshold=threshold))
    return Compliance(campaign=lc.name, as_of=as_of, units=tuple(units), unknown_responses=unknown_responses)
