"""Rosters and survey response exports (.xlsx/.csv) into the database (docs/design.md §1, §3).

A roster is who must answer: a valid one *replaces* the campaign's staff, and a roster with any bad
row loads nothing (a half-loaded roster would chase the wrong people). A response export says who
answered when: it *adds* to what is known, and the earliest completion per person counts. The file's
sha256 is recorded either way, so importing the same bytes again changes nothing.

Reading is lenient where Excel gets in the way: header spelling (NFC, spaces, case), title rows above
the header, staff IDs turned into numbers, ``;``-separated CSV, Vietnamese day/month order.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import stat
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import openpyxl
import sqlalchemy as sa
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from congvan.config import Columns, LoadedCampaign, check_address
from congvan.errors import SourceDataError
from congvan.i18n import _ as _t
from congvan.store.db import transaction
from congvan.store.models import Import, Response, Staff
from congvan.text import clean, nfc, one_line
from congvan.vndate import VIETNAM

Kind = Literal["roster", "responses"]

SUFFIXES = (".xlsx", ".csv")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 400 * 1024 * 1024  # an .xlsx is a zip: refuse one that unpacks into a bomb
MAX_ROWS = 100_000
HEADER_SCAN_ROWS = 10  # title lines above the header are common in Vietnamese sheets
CSV_DELIMITERS = (",", ";", "\t")  # Excel on a Vietnamese locale saves "CSV" with ';'

FIELDS = ("staff_id", "name", "position", "unit", "email", "completed_at")
REQUIRED: dict[Kind, tuple[str, ...]] = {"roster": ("staff_id", "name", "unit"),
                                         "responses": ("staff_id", "completed_at")}
# Column widths in the database; PostgreSQL refuses longer values, so they are row errors here.
MAX_LENGTH = {"staff_id": 64, "name": 255, "position": 255, "email": 320}
EXCEL_ERRORS = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!"})
ERRORS_IN_MESSAGE = 3


# --- results -------------------------------------------------------------------------------------


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
        super().__init__(f"{report.file}: nothing loaded, {len(report.errors)} error(s): {shown}"
                         + (f" (and {more} more)" if more > 0 else ""))


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


# --- paths ---------------------------------------------------------------------------------------


def roster_path(config_dir: Path, lc: LoadedCampaign) -> Path:
    """The campaign's ``follow_up.roster``, relative to the config folder."""
    return config_dir / lc.require_follow_up().roster


def responses_dir(config_dir: Path, lc: LoadedCampaign) -> Path | None:
    """The folder the survey's exports land in (``follow_up.responses``), if the campaign names one."""
    follow_up = lc.campaign.follow_up
    return config_dir / follow_up.responses if follow_up is not None and follow_up.responses else None


# --- public entry points -------------------------------------------------------------------------


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
        raise SourceDataError(f"{folder}: response folder not found")
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


def waiting_exports(engine: Engine, lc: LoadedCampaign, folder: Path) -> list[Path]:
    """The exports in ``folder`` not imported yet: no import of the campaign's responses has their sha256 (a
    file rejected before is still waiting). An absent folder holds none."""
    if not folder.is_dir():
        return []
    files = export_files(folder)
    with transaction(engine) as session:
        known = set(session.scalars(sa.select(Import.sha256).where(Import.campaign == lc.name,
                                                                   Import.kind == "responses")))
    waiting = []
    for path in files:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = ""
        if digest not in known:
            waiting.append(path)
    return waiting


def export_files(folder: Path) -> list[Path]:
    """The exports in a folder, by name; Excel's "~$" lock files and hidden files are not exports."""
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(("~$", "."))),
                  key=lambda p: p.name)


# --- reading a file into rows --------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    where: str  # "roster.xlsx, sheet 'Danh sách', row 14"
    values: dict[str, object]  # field -> raw cell value


@dataclass(frozen=True)
class _Table:
    shown: str  # "roster.xlsx, sheet 'Danh sách'" or "roster.csv"
    rows: list[_Row]
    warnings: list[str] = field(default_factory=list)


def _name(path: Path) -> str:
    """The file's name as messages show it: on one line, whatever the name holds (exports arrive with any name)."""
    return one_line(path.name)


def _where(path: Path) -> str:
    return one_line(str(path))


_TOO_LARGE = f"larger than the {MAX_FILE_BYTES // 2**20} MB limit for a roster or export"


def _read_bytes(path: Path) -> bytes:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        hint = " (save it as an Excel Workbook .xlsx)" if suffix == ".xls" else ""
        raise SourceDataError(f"{_where(path)}: not a .xlsx or .csv file{hint}")
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a pipe or a device (/dev/zero) would never end, or never start
            raise SourceDataError(f"{_where(path)}: not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise SourceDataError(f"{_where(path)}: {_TOO_LARGE}")
        with path.open("rb") as fh:
            data = fh.read(info.st_size + 1)
            if len(data) > info.st_size:  # it grew since stat(), or says 0 like /proc files: read on, to the limit
                data += fh.read(MAX_FILE_BYTES + 1 - len(data))
    except FileNotFoundError:
        raise SourceDataError(f"{_where(path)}: file not found") from None
    except OSError as exc:
        raise SourceDataError(f"{_where(path)}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_FILE_BYTES:  # it grew between stat() and read
        raise SourceDataError(f"{_where(path)}: {_TOO_LARGE}")
    return data


def _table(data: bytes, path: Path, columns: Columns, kind: Kind, sheet: str | None) -> _Table:
    headers = _Headers.of(columns)
    if path.suffix.lower() == ".csv":
        return _collect(_csv_records(data, _name(path), headers), _name(path), headers, kind)
    with _xlsx_errors(_name(path)):
        _check_unpacked_size(data, _name(path))
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = _worksheet(workbook, _name(path), sheet)
            ws.reset_dimensions()  # a stated size can be wrong (or hostile): read the rows that exist
            return _collect(ws.iter_rows(values_only=True), f"{_name(path)}, sheet '{_text(ws.title)}'", headers, kind)
        finally:
            workbook.close()


def _collect(records: Iterable[Sequence[object]], shown: str, headers: _Headers, kind: Kind) -> _Table:
    numbered = enumerate(records, start=1)
    number = 0
    header: dict[str, int] = {}
    found: list[str] = []
    duplicates: list[str] = []
    first_seen: list[str] = []
    for number, cells in numbered:
        header, found, duplicates = _map_header(cells, headers)
        if "staff_id" in header:
            break
        first_seen = first_seen or [c for c in (_text(v) for v in cells) if c]
        if number >= HEADER_SCAN_ROWS:
            break
    if "staff_id" not in header:
        raise SourceDataError(f"{shown}: no header row with a staff ID column "
                              f"{headers.expected('staff_id')} in the first {HEADER_SCAN_ROWS} rows"
                              + (f"; first row found: {_quoted(first_seen)}" if first_seen else "; the sheet is empty"))
    header_row = number
    missing = [f for f in REQUIRED[kind] if f not in header]
    if missing:
        wanted = " and ".join(headers.expected(f) for f in missing)
        raise SourceDataError(f"{shown}, row {header_row}: missing column{'s' if len(missing) > 1 else ''} {wanted}; "
                              f"headers found: {_quoted(found)}")
    rows = []
    for number, cells in numbered:
        if number - header_row > MAX_ROWS:  # data rows: the header and the lines above it do not count
            raise SourceDataError(f"{shown}: more than {MAX_ROWS} data rows; split the file")
        values = {f: cells[i] if i < len(cells) else None for f, i in header.items()}
        if any(_text(v) for v in values.values()):  # a row blank in every column we read is no row
            rows.append(_Row(f"{shown}, row {number}", values))
    return _Table(shown, rows, [f"{shown}, row {header_row}: {d}" for d in duplicates])


def _map_header(cells: Sequence[object], headers: _Headers) -> tuple[dict[str, int], list[str], list[str]]:
    """field -> column index; the headers as found; a warning for each column that repeats a field."""
    header: dict[str, int] = {}
    found: list[str] = []
    duplicates: list[str] = []
    for i, cell in enumerate(cells):
        text = _text(cell)
        if not text:
            continue
        found.append(text)
        name = headers.fields.get(header_key(text))
        if name is None:
            continue
        if name in header:
            duplicates.append(f"column '{text}' is also read as {name}: only the first such column is used")
        else:
            header[name] = i
    return header, found, duplicates


def header_key(text: str) -> str:
    """How headers are compared: NFC, no surrounding or repeated spaces, case-folded."""
    text = nfc(text).replace("\ufeff", "").replace("\u200b", "")
    return nfc(" ".join(text.split()).casefold())


@dataclass(frozen=True)
class _Headers:
    """The campaign's column headers: compared by ``header_key``, shown as written."""

    fields: dict[str, str]  # header_key -> field
    labels: dict[str, tuple[str, ...]]  # field -> headers as configured, then the English name

    @classmethod
    def of(cls, columns: Columns) -> _Headers:
        labels = {name: (*getattr(columns, name), name) for name in FIELDS}
        fields: dict[str, str] = {}
        for name, headers in labels.items():
            for header in headers:
                fields.setdefault(header_key(header), name)
        return cls(fields, labels)

    def expected(self, name: str) -> str:
        """"'Đơn vị' (or 'Mã đơn vị', 'unit')": the header to write, and the others accepted."""
        first, *others = self.labels[name]
        return f"'{first}'" + (f" (or {_quoted(others)})" if others else "")


def _quoted(items: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(f"'{i}'" for i in items[:limit])
    return shown + (", ..." if len(items) > limit else "") if items else "none"


def _csv_records(data: bytes, shown: str, headers: _Headers) -> list[list[str]]:
    text = _decode(data, shown)
    chosen = ","
    for delimiter in CSV_DELIMITERS:  # the delimiter that yields a staff ID header is the right one
        head = _parse_csv(text, delimiter, shown, limit=HEADER_SCAN_ROWS, strict=False)
        if any("staff_id" in _map_header(row, headers)[0] for row in head):
            chosen = delimiter
            break
    return _parse_csv(text, chosen, shown)


def _parse_csv(text: str, delimiter: str, shown: str, *, limit: int | None = None,
               strict: bool = True) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    except csv.Error as exc:
        if strict:
            raise SourceDataError(f"{shown}, row {len(rows) + 1}: not readable as CSV ({exc})") from exc
    return rows


def _decode(data: bytes, shown: str) -> str:
    try:
        text = data.decode("utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceDataError(f"{shown}: not UTF-8 text (byte {exc.start}); in Excel save it as "
                              "'CSV UTF-8 (Comma delimited)'") from None
    nul = text.find("\x00")
    if nul >= 0:  # a binary file, or UTF-16 without its mark: its cells would silently lose characters
        raise SourceDataError(f"{shown}, line {text.count(chr(10), 0, nul) + 1}: contains a NUL byte, which a "
                              "text file never holds; in Excel save it as 'CSV UTF-8 (Comma delimited)'")
    return text


_XLSX_ERRORS = (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, SyntaxError, EOFError,
                OSError, zlib.error)


@contextmanager
def _xlsx_errors(shown: str) -> Iterator[None]:
    """openpyxl's exceptions become one line naming the file; its warnings about styles are noise here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        try:
            yield
        except _XLSX_ERRORS as exc:
            if _defused(exc):
                raise SourceDataError(f"{shown}: refused: its XML declares entities, which Excel never writes "
                                      "(a possible XML bomb); open it in Excel and save it again as .xlsx") from exc
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SourceDataError(f"{shown}: not a readable .xlsx workbook ({reason})") from exc


def _defused(exc: BaseException) -> bool:
    """Whether defusedxml (which openpyxl parses through) refused a DTD or entity, maybe under openpyxl's own
    wrapping ValueError."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, DefusedXmlException):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _check_unpacked_size(data: bytes, shown: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise SourceDataError(f"{shown}: not an .xlsx workbook (save it as an Excel Workbook .xlsx)") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise SourceDataError(f"{shown}: unpacks to {unpacked // 2**20} MB, over the "
                              f"{MAX_UNPACKED_BYTES // 2**20} MB limit")


def _worksheet(workbook: Any, shown: str, sheet: str | None) -> Any:  # openpyxl is untyped
    sheets = workbook.worksheets
    if sheet is None:
        if not sheets:
            raise SourceDataError(f"{shown}: the workbook has no worksheet")
        return sheets[0]
    for ws in sheets:
        if header_key(ws.title) == header_key(sheet):
            return ws
    raise SourceDataError(f"{shown}: no sheet '{sheet}' (sheets: {_quoted([_text(ws.title) for ws in sheets])})")


# --- values --------------------------------------------------------------------------------------


def _text(value: object) -> str:
    """A cell as trimmed NFC text; a whole number Excel stored as 1023.0 becomes '1023'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = value if isinstance(value, str) else str(value)
    if text.isascii() and text.isprintable() and "  " not in text and text == text.strip():
        return text  # already NFC, no control character, one space between words: most cells of a big file
    return " ".join(clean(text).split())


_VN_MOMENT = re.compile(
    r"(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"
    r"(?:[ T,]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?\s*(?P<ampm>AM|PM|SA|CH)?)?",
    re.IGNORECASE)
# Excel serial days from 2000 to 2100: a date cell whose format was lost; anything else is not a time.
_SERIAL_RANGE = (36526, 73051)


def parse_completed_at(value: object) -> dt.datetime | None:
    """A completion time, timezone-aware (naive times are Vietnam's); None when empty (not completed).

    Accepts Excel datetimes, ISO 8601, "dd/mm/yyyy HH:MM[:SS]" and "dd/mm/yyyy" (also with '-' or '.',
    and a trailing AM/PM or SA/CH). Raises ValueError with a short reason otherwise.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _aware_vn(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=VIETNAM)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not _SERIAL_RANGE[0] <= value < _SERIAL_RANGE[1]:
            raise ValueError(f"the number {value} is not a date and time")
        return _aware_vn(from_excel(value))
    text = _text(value)
    if not text:
        return None
    match = _VN_MOMENT.fullmatch(text)
    if match:
        return _from_match(match)
    try:
        return _aware_vn(dt.datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(f"unreadable time '{text}' (expected dd/mm/yyyy HH:MM:SS, dd/mm/yyyy "
                         "or yyyy-mm-dd HH:MM)") from None


def _from_match(match: re.Match[str]) -> dt.datetime:
    hour = int(match["H"] or 0)
    ampm = (match["ampm"] or "").upper()
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError(f"unreadable time '{match[0]}' (hour {hour} with {ampm})")
        hour = hour % 12 + (12 if ampm in ("PM", "CH") else 0)
    try:
        return dt.datetime(int(match["y"]), int(match["m"]), int(match["d"]), hour, int(match["M"] or 0),
                           int(match["S"] or 0), tzinfo=VIETNAM)
    except ValueError as exc:
        raise ValueError(f"'{match[0]}' is not a real date and time ({exc}; day comes first)") from None


def _aware_vn(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VIETNAM)


def _aware_utc(moment: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _excel_error(row: _Row) -> list[str]:
    return [f"{row.where}: the {name} cell holds the Excel error {value}"
            for name, value in row.values.items()
            if isinstance(value, str) and "#" in value and value.strip() in EXCEL_ERRORS]


def _too_long(row: _Row, name: str, value: str) -> list[str]:
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(value) > limit:
        return [f"{row.where}: {name} is {len(value)} characters long (at most {limit})"]
    return []


# --- units ---------------------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})
_UBND = re.compile(r"^(ubnd|ủy ban nhân dân|uỷ ban nhân dân) ")
_LOCALITY = re.compile(r"^(huyện|thị xã|thành phố|tp\.?) ")


def _name_key(text: str) -> str:
    """Unit names compare ignoring case, spacing, '&' for 'và' and the kind of apostrophe."""
    return header_key(text.translate(_APOSTROPHES).replace("&", " và "))


def _name_aliases(name: str) -> Iterator[str]:
    key = _name_key(name)
    yield key
    if _UBND.match(key):  # "UBND huyện Ea H'leo" is also "huyện Ea H'leo" and "Ea H'leo"
        rest = _UBND.sub("", key)
        yield rest
        yield _LOCALITY.sub("", rest)


class _Units:
    """Unit codes (any case) and names (full, or without "UBND huyện ...") to the code in units.yaml."""

    def __init__(self, lc: LoadedCampaign) -> None:
        self.codes: dict[str, str] = {_name_key(u.code): u.code for u in lc.units}
        self.addressed = {a.unit.code for a in lc.addressees}
        seen: dict[str, set[str]] = {}
        for unit in lc.units:
            for alias in _name_aliases(unit.name):
                seen.setdefault(alias, set()).add(unit.code)
        self.names = {alias: next(iter(codes)) for alias, codes in seen.items() if len(codes) == 1}
        self._seen: dict[str, str | None] = {}

    def code(self, text: str) -> str | None:
        try:
            return self._seen[text]  # a roster names each unit in the same few ways on thousands of rows
        except KeyError:
            key = _name_key(text)
            code = self._seen[text] = self.codes.get(key) or self.names.get(key)
            return code


# --- rosters -------------------------------------------------------------------------------------


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
            problems.append(f"{row.where}: duplicate staff ID '{record.staff_id}' "
                            f"(first at {first_row[record.staff_id].rpartition(', ')[2]})")
        errors.extend(problems)
        if record is not None and not problems:
            first_row[record.staff_id] = row.where
            staff.append(record)
            per_unit[record.unit] = per_unit.get(record.unit, 0) + 1
    if not table.rows:
        errors.append(f"{table.shown}: no staff rows under the header")
    return ParsedRoster(_name(path), len(table.rows), tuple(staff),
                        tuple(table.warnings + _coverage_warnings(table.shown, lc, units, per_unit)), tuple(errors))


def _staff_record(row: _Row, units: _Units) -> tuple[StaffRecord | None, list[str]]:
    problems = _excel_error(row)
    values = {name: _text(row.values.get(name)) for name in ("staff_id", "name", "position", "unit", "email")}
    for name in ("staff_id", "name", "unit"):
        if not values[name]:
            problems.append(f"{row.where}: no {name.replace('_', ' ')}")
    for name, value in values.items():
        problems += _too_long(row, name, value)
    code = units.code(values["unit"]) if values["unit"] else None
    if values["unit"] and code is None:
        problems.append(f"{row.where}: unknown unit '{values['unit']}' (a code or name from units.yaml)")
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
    return shown + (f" and {len(codes) - COVERAGE_CODES_SHOWN} more" if len(codes) > COVERAGE_CODES_SHOWN else "")


def _coverage_warnings(shown: str, lc: LoadedCampaign, units: _Units, per_unit: dict[str, int]) -> list[str]:
    """The roster against the units the campaign addresses, as one line (not one per unit)."""
    outside = [code for code in per_unit if code not in units.addressed]
    empty = [a.unit.code for a in lc.addressees if a.unit.code not in per_unit]
    if not outside and not empty:
        return []
    covered = len(lc.addressees) - len(empty)
    parts = [f"{shown}: the roster covers {covered} of the {len(lc.addressees)} units the campaign addresses"]
    if empty:
        parts.append(f"nobody listed for {len(empty)} (they count as compliant): {_codes(empty)}")
    if outside:
        staff = sum(per_unit[c] for c in outside)
        parts.append(f"{staff} staff of {len(outside)} unit(s) the campaign does not address are not followed up: "
                     f"{_codes(outside)}")
    return ["; ".join(parts)]


def _replace_staff(session: Session, campaign: str, staff: Sequence[StaffRecord],
                   import_id: int) -> tuple[int, int, int]:
    """Replace the campaign's staff (kept in file order); return (added, updated, removed)."""
    old = {row[0]: tuple(row[1:]) for row in session.execute(sa.select(
        Staff.staff_id, Staff.name, Staff.position, Staff.unit, Staff.email).where(Staff.campaign == campaign))}
    new = {s.staff_id: (s.name, s.position, s.unit, s.email) for s in staff}
    kept = new.keys() & old.keys()
    session.execute(sa.delete(Staff).where(Staff.campaign == campaign))
    # The table, not the ORM entity: one executemany (see _merge_responses).
    session.execute(sa.insert(cast(sa.Table, Staff.__table__)), [
        {"campaign": campaign, "staff_id": s.staff_id, "name": s.name, "position": s.position, "unit": s.unit,
         "email": s.email, "import_id": import_id} for s in staff])
    return len(new.keys() - old.keys()), sum(new[k] != old[k] for k in kept), len(old.keys() - new.keys())


def _roster_current(session: Session, campaign: str, digest: str) -> bool:
    """Whether these bytes are what the staff table holds now (not merely imported once, long ago)."""
    previous = _find_import(session, campaign, "roster", digest)
    if previous is None:
        return False
    current = session.scalar(sa.select(Staff.import_id).where(Staff.campaign == campaign).limit(1))
    return current == previous.id


# --- responses -----------------------------------------------------------------------------------


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
                problems.append(f"{row.where}: a completion time without a staff ID")
            else:
                warnings_.append(f"{row.where}: no staff ID and no completion time; row ignored")
        errors.extend(problems)
        if problems or not staff_id:
            continue
        if moment is None:
            not_completed += 1
            continue
        if staff_id in completed:
            first = completed[staff_id]
            warnings_.append(f"{row.where}: staff ID '{staff_id}' also at {first[1].rpartition(', ')[2]}; "
                             "the earliest time counts")
            if moment >= first[0]:
                continue
        completed[staff_id] = (moment, row.where)
    return ParsedResponses(_name(path), len(table.rows), completed, not_completed, tuple(warnings_), tuple(errors))


def _unknown_staff(session: Session, campaign: str, parsed: ParsedResponses) -> list[str]:
    roster = set(session.scalars(sa.select(Staff.staff_id).where(Staff.campaign == campaign)))
    if not roster:
        return [f"{parsed.file}: no roster loaded for {campaign} yet; staff IDs could not be checked"]
    return [f"{where}: staff ID '{staff_id}' is not on the roster (kept, reported as unknown)"
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
    # per few rows), so an export of 100,000 lines loads in a second.
    table = cast(sa.Table, Response.__table__)
    if new_rows:
        session.execute(sa.insert(table), new_rows)
    if earlier:
        session.execute(sa.update(table).where(table.c.id == sa.bindparam("row_id"))
                        .values(completed_at=sa.bindparam("completed_at"), import_id=sa.bindparam("import_id")),
                        earlier)
    updated = len(earlier)
    return len(new_rows), updated


# --- the imports table ---------------------------------------------------------------------------


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
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"congvan-import:{campaign}"))))
