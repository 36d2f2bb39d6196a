"""Where rosters and exports are, and reading one (.xlsx or .csv) into rows: size limits, the header found
under title rows and mapped to fields, CSV delimiters and encodings (an .xlsx through congvan.xlsx_reader)."""

from __future__ import annotations

import csv
import hashlib
import io
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from congvan.config import Columns, LoadedCampaign
from congvan.errors import SourceDataError
from congvan.i18n import N_, _
from congvan.roster.cells import _text, header_key
from congvan.text import one_line

if TYPE_CHECKING:
    from congvan.xlsx_reader import Sheet, XlsxBook

Kind = Literal["roster", "responses"]

SUFFIXES = (".xlsx", ".csv")
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ROWS = 100_000
HEADER_SCAN_ROWS = 10  # title lines above the header are common in Vietnamese sheets
CSV_DELIMITERS = (",", ";", "\t")  # Excel on a Vietnamese locale saves "CSV" with ';'

FIELDS = ("staff_id", "name", "position", "unit", "email", "completed_at")
# A field as a message names it ("staff_id" in English, "mã cán bộ" in Vietnamese).
FIELD_NAMES = {"staff_id": N_("staff_id"), "name": N_("name"), "position": N_("position"), "unit": N_("unit"),
               "email": N_("email"), "completed_at": N_("completed_at")}
REQUIRED: dict[Kind, tuple[str, ...]] = {"roster": ("staff_id", "name", "unit"),
                                         "responses": ("staff_id", "completed_at")}


def roster_path(config_dir: Path, lc: LoadedCampaign) -> Path:
    """The campaign's ``follow_up.roster``, relative to the config folder."""
    return config_dir / lc.require_follow_up().roster


def responses_dir(config_dir: Path, lc: LoadedCampaign) -> Path | None:
    """The folder the survey's exports land in (``follow_up.responses``), if the campaign names one."""
    follow_up = lc.campaign.follow_up
    return config_dir / follow_up.responses if follow_up is not None and follow_up.responses else None


def export_files(folder: Path) -> list[Path]:
    """The exports in a folder, by name; Excel's "~$" lock files and hidden files are not exports."""
    return sorted((p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(("~$", "."))),
                  key=lambda p: p.name)


@dataclass(frozen=True)
class _Row:
    where: str  # "roster.xlsx, sheet 'Danh sách', row 14"
    values: dict[str, object]  # field -> raw cell value


@dataclass(frozen=True)
class _Table:
    shown: str  # "roster.xlsx, sheet 'Danh sách'" or "roster.csv"
    rows: list[_Row]
    warnings: list[str] = field(default_factory=list)


def _field(name: str) -> str:
    return _(FIELD_NAMES[name]) if name in FIELD_NAMES else name


def _name(path: Path) -> str:
    """The file's name as messages show it: on one line, whatever the name holds (exports arrive with any name)."""
    return one_line(path.name)


def _where(path: Path) -> str:
    return one_line(str(path))


def _too_large(path: Path) -> str:
    return _("{path}: larger than the {limit} MB limit for a roster or export").format(
        path=_where(path), limit=MAX_FILE_BYTES // 2**20)


def _read_bytes(path: Path) -> bytes:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        if suffix == ".xls":
            raise SourceDataError(_("{path}: not a .xlsx or .csv file (save it as an Excel Workbook .xlsx)").format(
                path=_where(path)))
        raise SourceDataError(_("{path}: not a .xlsx or .csv file").format(path=_where(path)))
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):  # a pipe or a device (/dev/zero) would never end, or never start
            raise SourceDataError(_("{path}: not a regular file").format(path=_where(path)))
        if info.st_size > MAX_FILE_BYTES:
            raise SourceDataError(_too_large(path))
        with path.open("rb") as fh:
            data = fh.read(info.st_size + 1)
            if len(data) > info.st_size:  # it grew since stat(), or says 0 like /proc files: read on, to the limit
                data += fh.read(MAX_FILE_BYTES + 1 - len(data))
    except FileNotFoundError:
        raise SourceDataError(_("{path}: file not found").format(path=_where(path))) from None
    except OSError as exc:
        raise SourceDataError(_("{path}: cannot be read ({error})").format(path=_where(path),
                                                                          error=exc.strerror or exc)) from exc
    if len(data) > MAX_FILE_BYTES:  # it grew between stat() and read
        raise SourceDataError(_too_large(path))
    return data


def _table(data: bytes, path: Path, columns: Columns, kind: Kind, sheet: str | None) -> _Table:
    headers = _Headers.of(columns)
    if path.suffix.lower() == ".csv":
        return _collect(_csv_records(data, _name(path), headers), _name(path), headers, kind)
    key = (hashlib.sha256(data).digest(), sheet)
    if _last_sheet is not None and _last_sheet.key == key:
        shown = _("{file}, sheet '{sheet}'").format(file=_name(path), sheet=_text(_last_sheet.title))
        return _collect(iter(_last_sheet.rows), shown, headers, kind)
    from congvan.xlsx_reader import XlsxBook  # here: a .csv, and `status`, need no XML parser

    with XlsxBook(data, _name(path)) as book:
        ws = _worksheet(book, _name(path), sheet)
        shown = _("{file}, sheet '{sheet}'").format(file=_name(path), sheet=_text(ws.title))
        read: list[tuple[object, ...]] = []
        table = _collect(_kept(book.rows(ws), read), shown, headers, kind)
        _remember(_Sheet(key, ws.title, read))
        return table


@dataclass(frozen=True)
class _Sheet:
    """The cell values of a sheet read whole, without error, and the file's sha256 and the sheet asked for."""

    key: tuple[bytes, str | None]
    title: str
    rows: list[tuple[object, ...]]


# The last sheet read. A flow command validates its campaign in the CLI and again in the flow (the same check a
# worker runs alone), and each reads the roster: the second reading of the same bytes is this (10 ms saved on the
# sample's 541 rows, 2 s on 100,000). One sheet only: a long-lived process keeps no more.
_last_sheet: _Sheet | None = None


def _remember(sheet: _Sheet) -> None:
    global _last_sheet
    _last_sheet = sheet


def _kept(rows: Iterable[tuple[object, ...]], into: list[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    """``rows``, each also appended to ``into`` as it is read."""
    for row in rows:
        into.append(row)
        yield row


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
        expected = headers.expected("staff_id")
        if first_seen:
            raise SourceDataError(_("{where}: no header row with a staff ID column {expected} in the first {rows} "
                                    "rows; first row found: {found}").format(
                where=shown, expected=expected, rows=HEADER_SCAN_ROWS, found=_quoted(first_seen)))
        raise SourceDataError(_("{where}: no header row with a staff ID column {expected} in the first {rows} rows; "
                                "the sheet is empty").format(where=shown, expected=expected, rows=HEADER_SCAN_ROWS))
    header_row = number
    missing = [f for f in REQUIRED[kind] if f not in header]
    if missing:
        wanted = _(" and ").join(headers.expected(f) for f in missing)
        text = _("{where}, row {row}: missing columns {wanted}; headers found: {found}") if len(missing) > 1 else \
            _("{where}, row {row}: missing column {wanted}; headers found: {found}")
        raise SourceDataError(text.format(where=shown, row=header_row, wanted=wanted, found=_quoted(found)))
    rows = []
    row_at = _("{where}, row {row}")  # once: a file may have 100,000 rows
    for number, cells in numbered:
        if number - header_row > MAX_ROWS:  # data rows: the header and the lines above it do not count
            raise SourceDataError(_("{where}: more than {rows} data rows; split the file").format(where=shown,
                                                                                                 rows=MAX_ROWS))
        values = {f: cells[i] if i < len(cells) else None for f, i in header.items()}
        if any(_text(v) for v in values.values()):  # a row blank in every column we read is no row
            rows.append(_Row(row_at.format(where=shown, row=number), values))
    return _Table(shown, rows, [f"{row_at.format(where=shown, row=header_row)}: {d}" for d in duplicates])


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
            duplicates.append(_("column '{column}' is also read as {field}: only the first such column is used").format(
                column=text, field=_field(name)))
        else:
            header[name] = i
    return header, found, duplicates


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
        return f"'{first}'" + (_(" (or {others})").format(others=_quoted(others)) if others else "")


def _quoted(items: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(f"'{i}'" for i in items[:limit])
    return shown + (", ..." if len(items) > limit else "") if items else _("none")


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
            raise SourceDataError(_("{where}, row {row}: not readable as CSV ({error})").format(
                where=shown, row=len(rows) + 1, error=exc)) from exc
    return rows


def _decode(data: bytes, shown: str) -> str:
    try:
        text = data.decode("utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceDataError(_("{where}: not UTF-8 text (byte {byte}); in Excel save it as 'CSV UTF-8 (Comma "
                                "delimited)'").format(where=shown, byte=exc.start)) from None
    nul = text.find("\x00")
    if nul >= 0:  # a binary file, or UTF-16 without its mark: its cells would silently lose characters
        raise SourceDataError(_("{where}, line {line}: contains a NUL byte, which a text file never holds; in Excel "
                                "save it as 'CSV UTF-8 (Comma delimited)'").format(
            where=shown, line=text.count(chr(10), 0, nul) + 1))
    return text


def _worksheet(book: XlsxBook, shown: str, sheet: str | None) -> Sheet:
    sheets = book.sheets
    if sheet is None:
        if not sheets:
            raise SourceDataError(_("{file}: the workbook has no worksheet").format(file=shown))
        return sheets[0]
    for ws in sheets:
        if header_key(ws.title) == header_key(sheet):
            return ws
    raise SourceDataError(_("{where}: no sheet '{sheet}' (sheets: {sheets})").format(
        where=shown, sheet=sheet, sheets=_quoted([_text(ws.title) for ws in sheets])))
