"""Where rosters and exports are, and reading one (.xlsx or .csv) into rows: size limits, the header found
under title rows and mapped to fields, CSV delimiters and encodings, openpyxl's failures as one line."""

from __future__ import annotations

import csv
import io
import stat
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import openpyxl
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from openpyxl.utils.exceptions import InvalidFileException

from congvan.config import Columns, LoadedCampaign
from congvan.errors import SourceDataError
from congvan.roster.cells import _text, header_key
from congvan.text import one_line

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
