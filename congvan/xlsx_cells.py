"""The values of a worksheet row's cells (``<row>`` of an .xlsx sheet part), as openpyxl's read-only mode gave them:
text for shared, inline and formula strings (``_xHHHH_`` escapes undone, phonetic runs left out), an int or float,
True/False, an error's text (``#N/A``), and a datetime, time or timedelta when the cell's style shows a date or
duration. ``congvan.xlsx_reader`` finds the parts and feeds the rows here.
"""

from __future__ import annotations

import datetime as dt
from xml.etree.ElementTree import Element

from congvan.excel_dates import from_excel, from_iso8601


class Cells:
    """A row element's cell values."""

    def __init__(self, ns: str, strings: list[str], dates: frozenset[int], durations: frozenset[int],
                 epoch: dt.datetime) -> None:
        self.c, self.v, self.inline, self.t, self.run = (f"{ns}{tag}" for tag in ("c", "v", "is", "t", "r"))
        self.strings, self.dates, self.durations, self.epoch = strings, dates, durations, epoch

    def of(self, row: Element) -> tuple[object, ...]:
        values: list[object] = []
        column = 0
        for cell in row:
            if cell.tag != self.c:
                continue
            ref = cell.get("r")
            if ref:
                letters = ref.rstrip(_DIGITS)  # the usual cell, in a column met before: no call
                column = (_COLUMNS.get(letters) if len(letters) < len(ref) else None) or _column(ref)
            else:
                column += 1
            if column > len(values):
                values += [None] * (column - len(values) - 1)
                values.append(self.value(cell))
            else:
                values[column - 1] = self.value(cell)
        del values[column:]  # as wide as its last cell: a cell out of order past it is dropped, as openpyxl does
        return tuple(values)

    def value(self, cell: Element) -> object:
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            inline = cell.find(self.inline)
            return None if inline is None else content(inline, self.t, self.run)
        text = cell.findtext(self.v)
        if not text:
            return None
        if kind == "n":
            number = float(text) if "." in text or "E" in text or "e" in text else int(text)
            style = cell.get("s")
            index = int(style) if style else (0 if style is None else -1)
            if index not in self.dates:
                return number
            try:
                return from_excel(number, self.epoch, duration=index in self.durations)
            except (OverflowError, ValueError):
                return "#VALUE!"  # a date style on a number no date can be: openpyxl's error value
        if kind == "s":
            return self.strings[int(text)]
        if kind == "b":
            return bool(int(text))
        if kind == "d":
            return from_iso8601(text)
        if kind == "str":
            return _unescaped(text)
        return text  # "e": the error as Excel shows it (#N/A)


def content(element: Element, t: str, run: str) -> str:
    """The text of a shared or inline string: its <t>, or its rich-text runs' (not the phonetic guide's <rPh>)."""
    if len(element) == 1 and element[0].tag == t:  # the usual string: one <t>
        text = element[0].text or ""
        return _unescaped(text) if "_x" in text else text
    parts = []
    for child in element:
        if child.tag == t:
            parts.append(child.text or "")
        elif child.tag == run:
            parts.append(child.findtext(t) or "")
    return _unescaped("".join(parts))


def _unescaped(text: str) -> str:
    """``_x000D_`` is how the format writes a character XML cannot hold (a CR, a control character); ``_x005F_``
    an underscore that would otherwise start one."""
    if "_x" not in text:
        return text
    out, start = [], 0
    while (at := text.find("_x", start)) >= 0:
        code = text[at + 2:at + 6]
        if len(code) == 4 and text[at + 6:at + 7] == "_" and all(c in _HEX for c in code):
            out += [text[start:at], chr(int(code, 16))]
            start = at + 7
        else:
            out.append(text[start:at + 2])
            start = at + 2
    out.append(text[start:])
    return "".join(out)


_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = "0123456789"
_COLUMNS: dict[str, int] = {}  # "AB" -> 28, filled as columns are met


def _column(ref: str) -> int:
    """The column of a cell reference ("AB12" -> 28; lower case too); ValueError for anything else."""
    letters = ref.rstrip(_DIGITS)
    if len(letters) == len(ref):
        raise ValueError(f"'{ref}' is not a cell reference")
    column = _COLUMNS.get(letters)
    if column is None:
        column = 0
        for letter in letters.upper():
            if not "A" <= letter <= "Z":
                raise ValueError(f"'{ref}' is not a cell reference")
            column = column * 26 + ord(letter) - 64
        if not 0 < column < 18279:  # A to ZZZ, as openpyxl takes
            raise ValueError(f"'{ref}' is not a cell reference")
        _COLUMNS[letters] = column
    return column


def row_number(stated: str) -> int:
    try:
        return int(stated)
    except ValueError:
        number = float(stated)  # "5.0", as some writers put it
        if not number.is_integer():
            raise ValueError(f"{stated} is not a valid row number") from None
        return int(number)


__all__ = ["Cells", "content", "row_number"]
