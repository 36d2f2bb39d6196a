"""Simulated survey answers, day by day, for the demo (``congvan demo``): pure and deterministic.

Most units answer in full within the simulated days, quickly at first and then trickling in; a
*lagging* unit stops at its share of the roster, so the escalation ladder has someone to chase.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from congvan.vndate import VIETNAM

EXPORT_HEADERS = ("Mã cán bộ", "Thời gian hoàn thành")
WEEKEND_WEIGHT = 0.15  # officials answer on weekends too, but rarely
OFFICE_HOURS = (7 * 60 + 30, 17 * 60 + 30)  # minutes after midnight

Answer = tuple[str, dt.datetime]  # (staff_id, completed_at)


def simulate_responses(roster: Sequence[tuple[str, str]], *, start: dt.date, days: int, seed: int,
                       lagging: Mapping[str, float]) -> list[tuple[dt.date, list[Answer]]]:
    """Who answers on each of ``days`` days from ``start``, given the roster as (staff_id, unit) pairs.

    Every unit not in ``lagging`` (unit code -> final share, 0..1) answers in full; a lagging unit
    answers ``round(share * size)`` people. Same arguments, same answers.
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    shares = {code.upper(): share for code, share in lagging.items()}
    if any(not 0 <= share <= 1 for share in shares.values()):
        raise ValueError("a lagging unit's share must be between 0 and 1")
    rng = random.Random(seed)
    calendar = [start + dt.timedelta(days=i) for i in range(days)]
    # Early days weigh more (the dispatch is fresh); weekends weigh little.
    weights = [(days - i) * (WEEKEND_WEIGHT if day.weekday() >= 5 else 1.0) for i, day in enumerate(calendar)]
    by_day: dict[dt.date, list[Answer]] = {day: [] for day in calendar}
    for unit, members in _by_unit(roster).items():
        answering = rng.sample(members, round(shares.get(unit.upper(), 1.0) * len(members)))
        for staff_id in answering:
            day = rng.choices(calendar, weights)[0]
            minute = rng.randrange(*OFFICE_HOURS)
            moment = dt.datetime.combine(day, dt.time(minute // 60, minute % 60, rng.randrange(60)), tzinfo=VIETNAM)
            by_day[day].append((staff_id, moment))
    return [(day, sorted(by_day[day], key=lambda a: (a[1], a[0]))) for day in calendar]


def _by_unit(roster: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    units: dict[str, list[str]] = {}
    for staff_id, unit in roster:
        units.setdefault(unit, []).append(staff_id)
    return units


def write_export(path: Path, rows: Iterable[Answer]) -> Path:
    """A survey export as the survey site gives it: UTF-8 CSV (with BOM, for Excel), Vietnamese headers,
    times as dd/mm/yyyy HH:MM:SS in Vietnam's time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(EXPORT_HEADERS)
        for staff_id, completed_at in rows:
            writer.writerow((staff_id, completed_at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M:%S")))
    return path
