"""Importing a roster or export into the store: a roster replaces the campaign's staff, an export adds its
completions; the file's sha256 makes importing the same bytes again a no-op, and imports of one campaign
take turns."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from congvan.config import LoadedCampaign
from congvan.errors import SourceDataError
from congvan.i18n import _ as _t
from congvan.roster.rows import ParsedResponses, StaffRecord, _parse_responses, _parse_roster
from congvan.roster.sources import Kind, _name, _read_bytes, export_files
from congvan.store import tables
from congvan.store.db import advisory_key, insert_many, transaction
from congvan.store.models import Import, Response, Staff

ERRORS_IN_MESSAGE = 3


@dataclass(frozen=True)
class ImportReport:
    """What one import did. ``errors`` is non-empty only for a rejected file, of which nothing was loaded."""

    file: str
    kind: Kind
    rows: int = 0  # data rows read (blank rows not counted)
    added: int = 0  # roster: staff new to the roster; responses: people with a first response
    updated: int = 0  # roster: staff whose details changed; responses: an earlier completion than known
    removed: int = 0  # roster: staff no longer on it
    not_completed: int = 0  # responses: rows without a completion time
    skipped_same_file: bool = False
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def rejected(self) -> bool:
        return bool(self.errors)

    def summary(self) -> str:
        if self.rejected:
            return _t("{file}: rejected, nothing loaded ({count} error(s))").format(file=self.file,
                                                                                  count=len(self.errors))
        if self.skipped_same_file:
            return _t("{file}: already imported (same file), nothing changed").format(file=self.file)
        if self.kind == "roster":
            text = _t("{file}: roster of {rows} staff loaded ({added} added, {updated} updated, {removed} removed)")
        else:
            text = _t("{file}: {rows} row(s), {added} new response(s), {updated} earlier than known")
            if self.not_completed:
                text += _t(", {not_completed} not completed")
        if self.warnings:
            text += _t(", {warnings} warning(s)")
        return text.format(file=self.file, rows=self.rows, added=self.added, updated=self.updated,
                           removed=self.removed, not_completed=self.not_completed, warnings=len(self.warnings))


class ImportRejected(SourceDataError):
    """A file with row errors: nothing was loaded. ``report.errors`` lists every problem, one per row."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        shown = "; ".join(report.errors[:ERRORS_IN_MESSAGE])
        more = len(report.errors) - ERRORS_IN_MESSAGE
        text = _t("{file}: nothing loaded, {count} error(s): {errors}").format(file=report.file,
                                                                             count=len(report.errors), errors=shown)
        super().__init__(text + (_t(" (and {count} more)").format(count=more) if more > 0 else ""))


def import_roster(engine: Engine, lc: LoadedCampaign, path: Path, *, sheet: str | None = None) -> ImportReport:
    """Replace the campaign's staff with the roster in ``path``.

    Raises ``ImportRejected`` (nothing loaded) if any row is wrong, ``SourceDataError`` if the file
    cannot be read at all.
    """
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    with transaction(engine) as session:
        if _roster_current(session, lc.name, digest):
            return ImportReport(_name(path), "roster", rows=_import_rows(session, lc.name, "roster", digest),
                                skipped_same_file=True)
    parsed = _parse_roster(data, path, lc, sheet)
    if parsed.errors:
        raise ImportRejected(ImportReport(_name(path), "roster", rows=parsed.rows, warnings=parsed.warnings,
                                          errors=parsed.errors))
    with transaction(engine) as session:
        _lock_campaign(session, lc.name)
        if _roster_current(session, lc.name, digest):  # another run loaded it meanwhile
            return ImportReport(_name(path), "roster", rows=parsed.rows, skipped_same_file=True)
        import_id = _record_import(session, lc.name, "roster", path.name, digest, parsed.rows, len(parsed.warnings))
        added, updated, removed = _replace_staff(session, lc.name, parsed.staff, import_id)
    return ImportReport(_name(path), "roster", rows=parsed.rows, added=added, updated=updated, removed=removed,
                        warnings=parsed.warnings)


def import_responses(engine: Engine, lc: LoadedCampaign, path: Path, *, sheet: str | None = None) -> ImportReport:
    """Add a survey export's completions; the earliest time per person wins.

    A staff ID not on the roster is a warning and still stored. Raises ``ImportRejected`` (nothing
    loaded) if a row cannot be read, ``SourceDataError`` if the file cannot be read at all.
    """
    data = _read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    with transaction(engine) as session:
        if _find_import(session, lc.name, "responses", digest) is not None:
            return ImportReport(_name(path), "responses", rows=_import_rows(session, lc.name, "responses", digest),
                                skipped_same_file=True)
    parsed = _parse_responses(data, path, lc, sheet)
    if parsed.errors:
        raise ImportRejected(ImportReport(_name(path), "responses", rows=parsed.rows,
                                          not_completed=parsed.not_completed,
                                          warnings=parsed.warnings, errors=parsed.errors))
    with transaction(engine) as session:
        _lock_campaign(session, lc.name)
        if _find_import(session, lc.name, "responses", digest) is not None:
            return ImportReport(_name(path), "responses", rows=parsed.rows, skipped_same_file=True)
        unknown = _unknown_staff(session, lc.name, parsed)
        warnings_ = (*parsed.warnings, *unknown)
        import_id = _record_import(session, lc.name, "responses", path.name, digest, parsed.rows, len(warnings_))
        added, updated = _merge_responses(session, lc.name, parsed.completed, import_id)
    return ImportReport(_name(path), "responses", rows=parsed.rows, added=added, updated=updated,
                        not_completed=parsed.not_completed, warnings=warnings_)


def import_new_exports(engine: Engine, lc: LoadedCampaign, folder: Path) -> list[ImportReport]:
    """Import every .xlsx/.csv in ``folder`` (by name) not imported yet; one report per new file.

    A file that cannot be loaded does not stop the others: its report carries the errors (check
    ``report.rejected``), and it is tried again on the next run.
    """
    if not folder.is_dir():
        raise SourceDataError(_t("{folder}: response folder not found").format(folder=folder))
    reports = []
    for path in export_files(folder):
        try:
            report = import_responses(engine, lc, path)
        except ImportRejected as exc:
            report = exc.report
        except SourceDataError as exc:
            report = ImportReport(_name(path), "responses", errors=(str(exc),))
        if not report.skipped_same_file:
            reports.append(report)
    return reports


def _replace_staff(session: Session, campaign: str, staff: Sequence[StaffRecord],
                   import_id: int) -> tuple[int, int, int]:
    """Replace the campaign's staff (kept in file order); return (added, updated, removed)."""
    old = {row[0]: tuple(row[1:]) for row in session.execute(sa.select(
        Staff.staff_id, Staff.name, Staff.position, Staff.unit, Staff.email).where(Staff.campaign == campaign))}
    new = {s.staff_id: (s.name, s.position, s.unit, s.email) for s in staff}
    kept = new.keys() & old.keys()
    # Who has answered already (the responses stay when the roster changes): each new row says so itself.
    answered = {staff_id: at for staff_id, at in session.execute(
        sa.select(Response.staff_id, Response.completed_at).where(Response.campaign == campaign))}
    session.execute(sa.delete(Staff).where(Staff.campaign == campaign))
    # The table, not the ORM entity: one executemany on the driver's cursor (store.db.insert_many).
    insert_many(session, tables.staff, [
        {"campaign": campaign, "staff_id": s.staff_id, "name": s.name, "position": s.position, "unit": s.unit,
         "email": s.email, "import_id": import_id, "answered_at": answered.get(s.staff_id)} for s in staff])
    return len(new.keys() - old.keys()), sum(new[k] != old[k] for k in kept), len(old.keys() - new.keys())


def _roster_current(session: Session, campaign: str, digest: str) -> bool:
    """Whether these bytes are what the staff table holds now (not merely imported once, long ago)."""
    previous = _find_import(session, campaign, "roster", digest)
    if previous is None:
        return False
    current = session.scalar(sa.select(Staff.import_id).where(Staff.campaign == campaign).limit(1))
    return current == previous.id


def _unknown_staff(session: Session, campaign: str, parsed: ParsedResponses) -> list[str]:
    roster = set(session.scalars(sa.select(Staff.staff_id).where(Staff.campaign == campaign)))
    if not roster:
        return [_t("{file}: no roster loaded for {campaign} yet; staff IDs could not be checked").format(
            file=parsed.file, campaign=campaign)]
    text = _t("{where}: staff ID '{staff_id}' is not on the roster (kept, reported as unknown)")
    return [text.format(where=where, staff_id=staff_id)
            for staff_id, (_, where) in parsed.completed.items() if staff_id not in roster]


def _merge_responses(session: Session, campaign: str, completed: dict[str, tuple[dt.datetime, str]],
                     import_id: int) -> tuple[int, int]:
    """Add first responses, move known ones earlier; return (added, updated)."""
    known = {staff_id: (row_id, at) for row_id, staff_id, at in session.execute(
        sa.select(Response.id, Response.staff_id, Response.completed_at).where(Response.campaign == campaign))}
    new_rows = []
    earlier = []
    for staff_id, (moment, _) in completed.items():
        utc = moment.astimezone(dt.UTC)  # SQLite keeps no offset: store UTC everywhere
        row = known.get(staff_id)
        if row is None:
            new_rows.append({"campaign": campaign, "staff_id": staff_id, "completed_at": utc, "import_id": import_id})
        elif utc < _aware_utc(row[1]):
            earlier.append({"row_id": row[0], "completed_at": utc, "import_id": import_id})
    # Plain rows and the table, not ORM objects: one executemany each (the ORM's bulk insert runs a statement
    # per few rows; store.db.insert_many skips SQLAlchemy's per-row work too).
    table = tables.responses
    insert_many(session, table, new_rows)
    if earlier:
        session.execute(sa.update(table).where(table.c.id == sa.bindparam("row_id"))
                        .values(completed_at=sa.bindparam("completed_at"), import_id=sa.bindparam("import_id")),
                        earlier)
    if new_rows or earlier:
        # The officials these rows answer for: staff.answered_at follows responses (a join on this import's rows
        # only, the new ones and those moved earlier).
        staff = tables.staff
        session.execute(sa.update(staff).values(answered_at=table.c.completed_at).where(
            staff.c.campaign == campaign, table.c.campaign == campaign, table.c.staff_id == staff.c.staff_id,
            table.c.import_id == import_id))
    updated = len(earlier)
    return len(new_rows), updated


def _aware_utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _find_import(session: Session, campaign: str, kind: Kind, digest: str) -> Import | None:
    return session.scalar(sa.select(Import).where(Import.campaign == campaign, Import.kind == kind,
                                                  Import.sha256 == digest))


def _import_rows(session: Session, campaign: str, kind: Kind, digest: str) -> int:
    previous = _find_import(session, campaign, kind, digest)
    return previous.rows if previous is not None else 0


def _record_import(session: Session, campaign: str, kind: Kind, file_name: str, digest: str, rows: int,
                   warning_count: int) -> int:
    """The import's id; a roster loaded before (then replaced) gets its old row back, refreshed."""
    record = _find_import(session, campaign, kind, digest)
    if record is None:
        record = Import(campaign=campaign, kind=kind, sha256=digest)
        session.add(record)
    record.file_name, record.rows, record.warnings = file_name[:512], rows, warning_count
    record.imported_at = dt.datetime.now(dt.UTC)
    session.flush()
    return record.id


def _lock_campaign(session: Session, campaign: str) -> None:
    """Serialise imports of one campaign. SQLite already does (BEGIN IMMEDIATE); PostgreSQL takes an
    advisory lock until commit, so two runs cannot both insert the same person or the same file."""
    if session.get_bind().dialect.name == "postgresql":
        key = advisory_key(session.connection(), f"import:{campaign}")
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
