"""The escalation ladder as pure functions (docs/design.md §1.1): which unit gets which step on which day.

A step's level is its 1-based position in ``follow_up.ladder``; its date is the deadline plus its
offset in working days. ``mail`` and ``letter`` steps go to each unit; ``report`` steps are for the
campaign (unit None). On a run for day ``as_of`` a unit gets a step only if all of these hold:

- ``as_of`` is a working day and not after ``follow_up.closes``;
- the unit is non-compliant (a unit with nobody on its roster is compliant);
- the step's date has come, and its level is above the highest level already sent to the unit, so a
  unit never gets a step twice nor a lower one after a higher one;
- at least the step's ``min_gap`` working days have passed since that previous step; if not, nothing
  fires today and the step waits for a later run.

Of the steps due, only the highest is sent: after missed runs a unit gets the letter its delay now
calls for, not every letter it missed. A report step fires once, ignores ``min_gap``, and only if some
unit is non-compliant on the day. Nothing here reads the clock or the database: callers pass ``as_of``
and what was sent (the highest level per unit, ``None`` for the campaign's reports).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from congvan.compliance import Compliance, UnitCompliance
from congvan.config import FollowUp, LadderStep
from congvan.i18n import N_, _
from congvan.vndate import short_date
from congvan.workdays import WorkCalendar


@dataclass(frozen=True)
class Sent:
    """The highest step already taken for a unit (or for the campaign when the key is None)."""

    level: int  # 1-based index of the step in follow_up.ladder
    step: str
    on: dt.date


@dataclass(frozen=True)
class Action:
    """One step to take today."""

    unit: str | None  # unit code; None for a campaign-level step (kind "report")
    step: LadderStep
    level: int
    due_on: dt.date  # the step's date (deadline + offset working days); earlier than today after missed runs


@dataclass(frozen=True)
class _Rung:
    level: int
    step: LadderStep
    on: dt.date


def step_date(follow_up: FollowUp, step: LadderStep, calendar: WorkCalendar) -> dt.date:
    """The deadline moved by ``step.offset`` working days (see ``WorkCalendar.add_working_days``; offset 0
    on a day off means the next working day)."""
    return calendar.add_working_days(follow_up.deadline, step.offset)


def _rungs(follow_up: FollowUp, calendar: WorkCalendar, *, report: bool) -> list[_Rung]:
    return [_Rung(level, step, step_date(follow_up, step, calendar))
            for level, step in enumerate(follow_up.ladder, start=1) if (step.kind == "report") == report]


def _closed(follow_up: FollowUp, day: dt.date) -> bool:
    return follow_up.closes is not None and day > follow_up.closes


def _due(rungs: Sequence[_Rung], prev: Sent | None, day: dt.date, gap_calendar: WorkCalendar | None) -> _Rung | None:
    """The rung that fires on ``day`` for a non-compliant unit (or the campaign), ignoring compliance and
    closing. ``gap_calendar`` None: no ``min_gap`` (reports)."""
    floor = prev.level if prev is not None else 0
    due = [r for r in rungs if r.level > floor and r.on <= day]
    if not due:
        return None
    top = max(due, key=lambda r: r.level)  # the lower ones were missed: skip them, do not pile them up
    if gap_calendar is not None and prev is not None \
            and gap_calendar.working_days_between(prev.on, day) < top.step.min_gap:
        return None
    return top


def plan(follow_up: FollowUp, compliance: Compliance, sent: Mapping[str | None, Sent], as_of: dt.date,
         calendar: WorkCalendar) -> list[Action]:
    """The steps to take on ``as_of``, sorted by level then by the units' order; reports last.

    Running it again the same day with its actions recorded in ``sent`` (``record_sent``) gives [].
    """
    if _closed(follow_up, as_of) or not calendar.is_working_day(as_of):
        return []
    behind = [u for u in compliance.units if not u.compliant]
    unit_rungs = _rungs(follow_up, calendar, report=False)
    actions = []
    for unit in behind:
        rung = _due(unit_rungs, sent.get(unit.code), as_of, calendar)
        if rung is not None:
            actions.append(Action(unit.code, rung.step, rung.level, rung.on))
    actions.sort(key=lambda a: a.level)  # stable: units keep their order within a level
    if behind:
        report = _due(_rungs(follow_up, calendar, report=True), sent.get(None), as_of, None)
        if report is not None:
            actions.append(Action(None, report.step, report.level, report.on))
    return actions


def record_sent(sent: Mapping[str | None, Sent], actions: Iterable[Action], on: dt.date) -> dict[str | None, Sent]:
    """``sent`` updated with ``actions`` taken on ``on``: what the next run's ``plan`` needs."""
    updated = dict(sent)
    for action in actions:
        updated[action.unit] = Sent(action.level, action.step.name, on)
    return updated


def next_step(follow_up: FollowUp, unit: UnitCompliance, sent: Sent | None, as_of: dt.date,
              calendar: WorkCalendar) -> tuple[LadderStep, dt.date] | None:
    """The step that would fire next for ``unit`` and the day it would, if the unit stays as it is and
    the escalation runs every working day from ``as_of`` on (``as_of`` included). None: nothing will."""
    if unit.compliant:
        return None
    rungs = _rungs(follow_up, calendar, report=False)
    floor = sent.level if sent is not None else 0
    ahead = [r for r in rungs if r.level > floor]
    if not ahead:
        return None
    # Nothing can fire before the first rung's date; from there, walk the working days (the gap may hold
    # a step back a few days, and a higher rung may come due meanwhile).
    day = calendar.add_working_days(max(as_of, min(r.on for r in ahead)), 0)
    while not _closed(follow_up, day):
        rung = _due(rungs, sent, day, calendar)
        if rung is not None:
            return rung.step, day
        day = calendar.next_working_day(day)
    return None


def _explanation(follow_up: FollowUp, unit: UnitCompliance, sent: Sent | None, as_of: dt.date,
                 calendar: WorkCalendar) -> tuple[str, LadderStep | None, dt.date | None]:
    if _closed(follow_up, as_of):
        return "campaign closed", None, None
    if unit.compliant:
        return "compliant", None, None
    found = next_step(follow_up, unit, sent, as_of, calendar)
    if found is not None:
        return "step", *found
    floor = sent.level if sent is not None else 0
    if all(r.level <= floor for r in _rungs(follow_up, calendar, report=False)):
        return "ladder complete", None, None
    return "campaign closes first", None, None


def explain(follow_up: FollowUp, unit: UnitCompliance, sent: Sent | None, as_of: dt.date,
            calendar: WorkCalendar) -> str:
    """``congvan status --json``'s next_step: "don-doc on 2023-02-27", "none: compliant",
    "none: campaign closed", "none: ladder complete" or "none: campaign closes first"."""
    why, step, day = _explanation(follow_up, unit, sent, as_of, calendar)
    if step is not None and day is not None:
        return f"{step.name} on {day.isoformat()}"
    return f"none: {why}"


_WHY = {"campaign closed": N_("none: campaign closed"), "compliant": N_("none: compliant"),
        "ladder complete": N_("none: ladder complete"), "campaign closes first": N_("none: campaign closes first")}


def explain_for_people(follow_up: FollowUp, unit: UnitCompliance, sent: Sent | None, as_of: dt.date,
                       calendar: WorkCalendar) -> str:
    """``explain`` as ``congvan status`` prints it: in the user's language, the date as dd/mm/yyyy."""
    why, step, day = _explanation(follow_up, unit, sent, as_of, calendar)
    if step is not None and day is not None:
        return _("{step} on {date}").format(step=step.name, date=short_date(day))
    return _(_WHY[why])
