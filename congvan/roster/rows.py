"""The rows of a roster or export checked and made into staff records or completion times, every problem named
by its row; nothing here touches the database (``congvan validate`` reads a roster through it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from congvan.config import Columns, LoadedCampaign, check_address
from congvan.errors import SourceDataError
from congvan.i18n import N_, _
from congvan.roster.cells import _text, parse_completed_at
from congvan.roster.sources import _field, _name, _read_bytes, _Row, _table
from congvan.roster.units import _Units

# Column widths in the database; PostgreSQL refuses longer values, so they are row errors here.
MAX_LENGTH = {"staff_id": 64, "name": 255, "position": 255, "email": 320}
EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!"})


@dataclass(frozen=True)
class StaffRecord:
    staff_id: str
    name: str
    position: str
    unit: str  # the code in units.yaml
    email: str | None


@dataclass(frozen=True)
class ParsedRoster:
    file: str
    rows: int
    staff: tuple[StaffRecord, ...]
    warnings: tuple[str, ...]
    errors: tuple[str, ...]


@dataclass(frozen=True)
class ParsedResponses:
    file: str
    rows: int
    completed: dict[str, tuple[dt.datetime, str]]  # staff_id -> (earliest time, where it was read)
    not_completed: int
    warnings: tuple[str, ...]
    errors: tuple[str, ...]


def check_roster(lc: LoadedCampaign, path: Path, *, sheet: str | None = None) -> list[str]:
    """Every problem that would stop ``import_roster``, without touching the database."""
    try:
        return list(read_roster(lc, path, sheet=sheet).errors)
    except SourceDataError as exc:
        return [str(exc)]


def read_roster(lc: LoadedCampaign, path: Path, *, sheet: str | None = None) -> ParsedRoster:
    return _parse_roster(_read_bytes(path), path, lc, sheet)


def read_responses(lc: LoadedCampaign, path: Path, *, sheet: str | None = None) -> ParsedResponses:
    return _parse_responses(_read_bytes(path), path, lc, sheet)


# "row 3: no name": what a row without a required field says.
MISSING = {"staff_id": N_("{where}: no staff id"), "name": N_("{where}: no name"), "unit": N_("{where}: no unit")}


def _excel_error(row: _Row) -> list[str]:
    return [_("{where}: the {field} cell holds the Excel error {value}").format(where=row.where, field=_field(name),
                                                                                value=value)
            for name, value in row.values.items()
            if isinstance(value, str) and "#" in value and value.strip() in EXCEL_ERRORS]


def _too_long(row: _Row, name: str, value: str) -> list[str]:
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(value) > limit:
        return [_("{where}: {field} is {length} characters long (at most {limit})").format(
            where=row.where, field=_field(name), length=len(value), limit=limit)]
    return []


def _columns(lc: LoadedCampaign) -> Columns:
    return lc.campaign.follow_up.columns if lc.campaign.follow_up is not None else Columns()


def _parse_roster(data: bytes, path: Path, lc: LoadedCampaign, sheet: str | None) -> ParsedRoster:
    table = _table(data, path, _columns(lc), "roster", sheet)
    units = _Units(lc)
    staff: list[StaffRecord] = []
    errors: list[str] = []
    first_row: dict[str, str] = {}
    per_unit: dict[str, int] = {}
    for row in table.rows:
        record, problems = _staff_record(row, units)
        if record is not None and record.staff_id in first_row:
            problems.append(_("{where}: duplicate staff ID '{staff_id}' (first at {first})").format(
                where=row.where, staff_id=record.staff_id, first=first_row[record.staff_id].rpartition(", ")[2]))
        errors.extend(problems)
        if record is not None and not problems:
            first_row[record.staff_id] = row.where
            staff.append(record)
            per_unit[record.unit] = per_unit.get(record.unit, 0) + 1
    if not table.rows:
        errors.append(_("{where}: no staff rows under the header").format(where=table.shown))
    return ParsedRoster(_name(path), len(table.rows), tuple(staff),
                        tuple(table.warnings + _coverage_warnings(table.shown, lc, units, per_unit)), tuple(errors))


def _staff_record(row: _Row, units: _Units) -> tuple[StaffRecord | None, list[str]]:
    problems = _excel_error(row)
    values = {name: _text(row.values.get(name)) for name in ("staff_id", "name", "position", "unit", "email")}
    for name in ("staff_id", "name", "unit"):
        if not values[name]:
            problems.append(_(MISSING[name]).format(where=row.where))
    for name, value in values.items():
        problems += _too_long(row, name, value)
    code = units.code(values["unit"]) if values["unit"] else None
    if values["unit"] and code is None:
        problems.append(_("{where}: unknown unit '{unit}' (a code or name from units.yaml)").format(
            where=row.where, unit=values["unit"]))
    email = values["email"] or None
    if email is not None:
        try:
            check_address(email)
        except ValueError as exc:
            problems.append(f"{row.where}: {exc}")
    if not values["staff_id"] or not values["name"] or code is None:
        return None, problems
    return StaffRecord(values["staff_id"], values["name"], values["position"], code, email), problems


COVERAGE_CODES_SHOWN = 5


def _codes(codes: Sequence[str]) -> str:
    shown = ", ".join(codes[:COVERAGE_CODES_SHOWN])
    more = len(codes) - COVERAGE_CODES_SHOWN
    return shown + (_(" and {count} more").format(count=more) if more > 0 else "")


def _coverage_warnings(shown: str, lc: LoadedCampaign, units: _Units, per_unit: dict[str, int]) -> list[str]:
    """The roster against the units the campaign addresses, as one line (not one per unit)."""
    outside = [code for code in per_unit if code not in units.addressed]
    empty = [a.unit.code for a in lc.addressees if a.unit.code not in per_unit]
    if not outside and not empty:
        return []
    covered = len(lc.addressees) - len(empty)
    parts = [_("{where}: the roster covers {covered} of the {total} units the campaign addresses").format(
        where=shown, covered=covered, total=len(lc.addressees))]
    if empty:
        parts.append(_("nobody listed for {count} (they count as compliant): {codes}").format(count=len(empty),
                                                                                             codes=_codes(empty)))
    if outside:
        staff = sum(per_unit[c] for c in outside)
        parts.append(_("{staff} staff of {count} unit(s) the campaign does not address are not followed up: "
                       "{codes}").format(staff=staff, count=len(outside), codes=_codes(outside)))
    return ["; ".join(parts)]


def _parse_responses(data: bytes, path: Path, lc: LoadedCampaign, sheet: str | None) -> ParsedResponses:
    table = _table(data, path, _columns(lc), "responses", sheet)
    completed: dict[str, tuple[dt.datetime, str]] = {}
    warnings_ = list(table.warnings)
    errors: list[str] = []
    not_completed = 0
    for row in table.rows:
        staff_id = _text(row.values.get("staff_id"))
        problems = _excel_error(row) + _too_long(row, "staff_id", staff_id)
        try:
            moment = parse_completed_at(row.values.get("completed_at"))
        except ValueError as exc:
            problems.append(f"{row.where}: {exc}")
            moment = None
        if not staff_id:
            if moment is not None:
                problems.append(_("{where}: a completion time without a staff ID").format(where=row.where))
            else:
                warnings_.append(_("{where}: no staff ID and no completion time; row ignored").format(where=row.where))
        errors.extend(problems)
        if problems or not staff_id:
            continue
        if moment is None:
            not_completed += 1
            continue
        if staff_id in completed:
            first = completed[staff_id]
            warnings_.append(_("{where}: staff ID '{staff_id}' also at {first}; the earliest time counts").format(
                where=row.where, staff_id=staff_id, first=first[1].rpartition(", ")[2]))
            if moment >= first[0]:
                continue
        completed[staff_id] = (moment, row.where)
    return ParsedResponses(_name(path), len(table.rows), completed, not_completed, tuple(warnings_), tuple(errors))
