"""Who has answered: per unit, the roster against the responses imported so far (docs/design.md §1.2).

A response counts on the day it was completed (Asia/Ho_Chi_Minh), so ``--as-of`` replays the past.
A unit complies when the share of its roster that responded reaches the campaign's threshold; a unit
with nobody on the roster has nobody to chase and counts as compliant (``status`` shows it as 0/0).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.config import LoadedCampaign
from congvan.store.db import transaction
from congvan.store.models import Response, Staff

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


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


def compute(engine: Engine, lc: LoadedCampaign, as_of: dt.date) -> Compliance:
    """Each addressed unit's required / responded / missing as of the end of ``as_of``."""
    threshold = lc.campaign.follow_up.threshold if lc.campaign.follow_up else 1.0
    cutoff = end_of_day(as_of)
    with transaction(engine) as session:
        staff = list(session.scalars(sa.select(Staff).where(Staff.campaign == lc.name).order_by(Staff.id)))
        answered = {
            staff_id for staff_id, completed_at in session.execute(
                sa.select(Response.staff_id, Response.completed_at).where(Response.campaign == lc.name))
            if _aware(completed_at) < cutoff
        }
    known = {s.staff_id for s in staff}
    by_unit: dict[str, list[Staff]] = {}
    for person in staff:
        by_unit.setdefault(person.unit.upper(), []).append(person)
    units = []
    for addressee in lc.addressees:
        members = by_unit.get(addressee.unit.code.upper(), [])
        missing = tuple(Official(s.staff_id, s.name, s.position, addressee.unit.code, s.email)
                        for s in members if s.staff_id not in answered)
        units.append(UnitCompliance(code=addressee.unit.code, name=addressee.unit.name, required=len(members),
                                    responded=len(members) - len(missing), missing=missing, threshold=threshold))
    return Compliance(campaign=lc.name, as_of=as_of, units=tuple(units),
                      unknown_responses=len(answered - known))


def _aware(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
