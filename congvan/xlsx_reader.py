"""An .xlsx workbook's cell values, read with ``zipfile`` and the C ElementTree parser: what openpyxl's
``load_workbook(read_only=True, data_only=True)`` and ``iter_rows(values_only=True)`` gave, without its 40 ms of
imports (its workbook module loads the writer, charts and drawings), and faster on a sheet.

What a cell gives: text for shared, inline and formula strings (``_xHHHH_`` escapes undone, phonetic runs left
out), an int or float, True/False, an error's text (``#N/A``), and a datetime, time or timedelta when the cell's
style shows a date or duration (1900 or 1904 date system). A formula's value is the one the file stores.
Rows come as tuples from row 1: a missing row is ``()``, a row is as wide as its last cell, gaps are None (the
cells of a row: ``congvan.xlsx_cells``).

Safety: the zip must unpack to at most MAX_UNPACKED_BYTES, and no XML part may have a DOCTYPE (Excel never
writes one; its entities could be a "billion laughs" bomb or read local files), checked by expat before the
parser that builds elements sees a byte of the part. Every failure is one ``SourceDataError`` line naming the file.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pyexpat import ExpatError, ParserCreate
from typing import cast
from xml.etree.ElementTree import Element, ParseError, XMLParser, XMLPullParser

from congvan.errors import SourceDataError
from congvan.excel_dates import BUILTIN_FORMATS, MAC_EPOCH, WINDOWS_EPOCH, is_date_format, is_duration_format
from congvan.i18n import _
from congvan.xlsx_cells import Cells, content, row_number

MAX_UNPACKED_BYTES = 400 * 1024 * 1024  # an .xlsx is a zip: refuse one that unpacks into a bomb
CHUNK = 64 * 1024  # bytes of a part fed to the parser at a time: memory stays flat whatever the sheet's size

_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# The workbook part's content types (openpyxl's order: templates and macro workbooks too).
_WORKBOOK_TYPES = ("application/vnd.ms-excel.template.macroEnabled.main+xml",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
                   "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
_SHARED_STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_STYLES = "xl/styles.xml"  # where openpyxl looks for the styles, and every application writes them


@dataclass(frozen=True)
class Sheet:
    """A worksheet (a chartsheet is none): its name, its part in the zip, and whether it is hidden."""

    title: str
    part: str
    state: str  # "visible", "hidden" or "veryHidden"


class _Unreadable(Exception):
    """The workbook breaks the format; the reason goes into the one-line message."""


class _Refused(Exception):
    """An XML part declares a DOCTYPE."""


class _RootSeen(Exception):
    """The prolog ended without a DOCTYPE."""


class _PrologGuard:
    """Expat reading a part up to its root element: any DOCTYPE on the way is refused before the part is parsed for
    its elements (entities can only be declared in one, so without it there are none to expand)."""

    def __init__(self) -> None:
        self.done = False
        self._expat = ParserCreate()
        self._expat.StartDoctypeDeclHandler = self._refuse
        self._expat.EntityDeclHandler = self._refuse
        self._expat.StartElementHandler = self._root

    @staticmethod
    def _refuse(*_args: object) -> None:
        raise _Refused

    @staticmethod
    def _root(*_args: object) -> None:
        raise _RootSeen

    def check(self, chunk: bytes, final: bool = False) -> None:
        if self.done:
            return
        try:
            self._expat.Parse(chunk, final)
        except _RootSeen:
            self.done = True


def _parsed(data: bytes) -> Element:
    """A small part (content types, workbook, relationships, styles) as a tree."""
    _PrologGuard().check(data, final=True)
    parser = XMLParser()
    parser.feed(data)
    root: Element = parser.close()
    return root


class XlsxBook:
    """An .xlsx opened from its bytes: ``sheets`` lists its worksheets in order (hidden ones too, as Excel keeps
    them), ``rows`` reads one. Raises ``SourceDataError`` naming ``shown`` when the workbook cannot be read."""

    def __init__(self, data: bytes, shown: str) -> None:
        self.shown = shown
        self._archive = _opened_zip(data, shown)
        try:
            with self._errors():
                # Part names compare in any case (OPC, ECMA-376 part 2, 9.1.1.1): 1C and others write
                # xl/SharedStrings.xml where their content types say xl/sharedStrings.xml. Zips made by .NET
                # before 4.6.1 separate folders with "\\". Excel reads both.
                self._names = {_key(name): name for name in self._archive.namelist()}
                types = self._xml("[Content_Types].xml")
                workbook = _workbook_part(types)
                root = self._xml(workbook)
                self._ns = root.tag.partition("}")[0] + "}" if root.tag.startswith("{") else ""
                properties = root.find(f"{self._ns}workbookPr")
                date1904 = properties.get("date1904") if properties is not None else None
                self._epoch = MAC_EPOCH if date1904 and date1904 not in ("false", "f", "0") else WINDOWS_EPOCH
                self.sheets = self._sheets(root, workbook)
                self._dates, self._durations = self._date_styles()
                self._strings = self._shared_strings(types)
        except BaseException:
            self._archive.close()
            raise

    def __enter__(self) -> XlsxBook:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._archive.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except _Refused:
            raise SourceDataError(_("{where}: refused: its XML declares entities, which Excel never writes (a "
                                    "possible XML bomb); open it in Excel and save it again as .xlsx").format(
                where=self.shown)) from None
        except (_Unreadable, zipfile.BadZipFile, ParseError, ExpatError, KeyError, ValueError, IndexError,
                EOFError, OSError, zlib.error) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            reason = str(text).splitlines()[0] if str(text) else type(exc).__name__
            raise SourceDataError(_("{where}: not a readable .xlsx workbook ({reason})").format(
                where=self.shown, reason=reason)) from exc

    def _has(self, part: str) -> bool:
        return _key(part) in self._names

    def _member(self, part: str) -> str:
        """The zip's name of ``part``, in whatever case the zip writes it."""
        if not self._has(part):
            raise _Unreadable(_("no part {part} in the zip").format(part=part))
        return self._names[_key(part)]

    def _xml(self, part: str) -> Element:
        return _parsed(self._archive.read(self._member(part)))

    def _sheets(self, root: Element, workbook: str) -> list[Sheet]:
        """The worksheets the workbook lists, each with its part through the workbook's relationships."""
        folder, name = posixpath.split(workbook)
        rels = self._xml(posixpath.join(folder, "_rels", name + ".rels"))
        targets: dict[str | None, tuple[str, str]] = {}
        for rel in rels.iter(f"{_RELS}Relationship"):
            target = rel.get("Target", "")
            if rel.get("TargetMode") != "External":
                target = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            targets[rel.get("Id")] = (target, rel.get("Type", ""))
        sheets = []
        for sheet in root.iterfind(f"{self._ns}sheets/{self._ns}sheet"):
            rid = next((v for k, v in sheet.attrib.items() if k.endswith("}id")), None)
            if not rid:
                continue  # openpyxl drops such a sheet too (old .xlsm files)
            if rid not in targets:
                raise _Unreadable(_("sheet '{sheet}' has no relationship {id}").format(sheet=sheet.get("name"),
                                                                                       id=rid))
            target, kind = targets[rid]
            if self._has(target) and "chartsheet" not in kind:
                sheets.append(Sheet(sheet.get("name", ""), target, sheet.get("state", "visible")))
        return sheets

    def _date_styles(self) -> tuple[frozenset[int], frozenset[int]]:
        """The cell styles (indexes into cellXfs) whose number format shows a date or time, and those a duration."""
        if not self._has(_STYLES):
            return frozenset(), frozenset()
        root = self._xml(_STYLES)
        ns = self._ns
        custom = {int(f.get("numFmtId", "")): f.get("formatCode", "")
                  for f in root.iterfind(f"{ns}numFmts/{ns}numFmt")}
        dates, durations = set(), set()
        for index, xf in enumerate(root.iterfind(f"{ns}cellXfs/{ns}xf")):
            number_format = int(xf.get("numFmtId", 0))
            code = custom[number_format] if number_format in custom else BUILTIN_FORMATS.get(number_format, "")
            if is_date_format(code):
                dates.add(index)
            if is_duration_format(code):
                durations.add(index)
        return frozenset(dates), frozenset(durations)

    def _shared_strings(self, types: Element) -> list[str]:
        part = next((o.get("PartName", "") for o in types.iter(f"{_TYPES}Override")
                     if o.get("ContentType") == _SHARED_STRINGS_TYPE), None)
        if part is None:
            return []
        part = part.removeprefix("/")
        strings: list[str] = []
        item, t, run = f"{self._ns}si", f"{self._ns}t", f"{self._ns}r"
        for batch in self._batches(part):
            for _event, element in batch:
                if element.tag == item:
                    strings.append(content(element, t, run))
                    element.clear()
        return strings

    def _batches(self, part: str) -> Iterator[Iterator[tuple[str, Element]]]:
        """The elements of a part as they end, in one batch per chunk of the part read and parsed."""
        member = self._member(part)
        guard = _PrologGuard()
        parser: XMLPullParser[Element] = XMLPullParser(("end",))
        # only "end" events asked for: each is ("end", element)
        ended = cast("Callable[[], Iterator[tuple[str, Element]]]", parser.read_events)
        with self._archive.open(member) as stream:
            while chunk := stream.read(CHUNK):
                guard.check(chunk)
                parser.feed(chunk)
                yield ended()
            guard.check(b"", final=True)
        parser.close()
        yield ended()

    def rows(self, sheet: Sheet) -> Iterator[tuple[object, ...]]:
        """The sheet's rows, read as they are asked for (a caller may stop early)."""
        with self._errors():
            yield from self._rows(sheet)

    def _rows(self, sheet: Sheet) -> Iterator[tuple[object, ...]]:
        row_tag = f"{self._ns}row"
        cells = Cells(self._ns, self._strings, self._dates, self._durations, self._epoch)
        number = 0
        expected = 1  # the next row to give: rows missing before a row are given empty
        for batch in self._batches(sheet.part):
            for _event, element in batch:
                if element.tag != row_tag:
                    continue
                stated = element.get("r")
                number = row_number(stated) if stated is not None else number + 1
                if number >= expected:  # a row numbered at or before one given is skipped, as openpyxl does
                    while expected < number:
                        yield ()
                        expected += 1
                    expected += 1
                    yield cells.of(element)
                element.clear()


def _key(part: str) -> str:
    """A part's name as parts are compared: "/" between folders, in any case."""
    return part.replace("\\", "/").lower()


def _workbook_part(types: Element) -> str:
    overrides = {o.get("ContentType"): o.get("PartName", "") for o in types.iter(f"{_TYPES}Override")}
    for content_type in _WORKBOOK_TYPES:
        part = overrides.get(content_type)
        if part:
            return part.removeprefix("/")
    if any(d.get("ContentType") in _WORKBOOK_TYPES for d in types.iter(f"{_TYPES}Default")):
        return "xl/workbook.xml"
    raise _Unreadable(_("it names no workbook part"))


def _opened_zip(data: bytes, shown: str) -> zipfile.ZipFile:
    """The zip, once its directory says it unpacks to at most MAX_UNPACKED_BYTES (before inflating anything)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, ValueError):  # an encrypted workbook is an OLE file, no zip at all
        raise SourceDataError(_("{where}: not an .xlsx workbook (save it as an Excel Workbook .xlsx)").format(
            where=shown)) from None
    unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACKED_BYTES:
        archive.close()
        raise SourceDataError(_("{where}: unpacks to {size} MB, over the {limit} MB limit").format(
            where=shown, size=unpacked // 2**20, limit=MAX_UNPACKED_BYTES // 2**20))
    return archive
