"""Will a trích yếu line ("V/v …") fit its header cell, or will Word wrap it? An estimate for `validate`.

Why font metrics and not a character budget: Vietnamese summaries mix narrow letters (i, l, t, r) and
wide ones (m, w, capitals), so "N characters" misjudges by ±15 %; the advance widths below are those of
the Adobe core Times-Roman AFM, to which Times New Roman and Liberation Serif are metric-compatible
(the PDFs use one of them, docs/design.md §4.4). A Vietnamese letter is as wide as its base letter (the
tone and vowel marks sit above or below it; ơ and ư get their horn, a little wider). The cell's width and
the line's size come from the template itself (the cell holding "V/v", its style's size), so a template
with a wider cell is judged by its own width. Word also breaks only at spaces, which the estimate ignores:
it warns when a line is wider than the cell by more than ``TOLERANCE`` (the AFM and Times New Roman
differ by a percent or two here and there), and says by how much.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from congvan.content_cache import ContentCache

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
TOLERANCE = 1.03  # a line up to 3 % wider than the estimate of the room is given the benefit of the doubt
DEFAULT_CELL_MARGIN = 108  # twips each side, Word's default for a table cell
# Advance widths in 1/1000 em (Adobe Times-Roman AFM).
_WIDTHS = {
    " ": 250, "!": 333, '"': 408, "#": 500, "$": 500, "%": 833, "&": 778, "'": 180, "(": 333, ")": 333, "*": 500,
    "+": 564, ",": 250, "-": 333, ".": 250, "/": 278, ":": 278, ";": 278, "<": 564, "=": 564, ">": 564, "?": 444,
    "@": 921, "[": 333, "]": 333, "_": 500, "–": 500, "—": 1000, "“": 444, "”": 444, "‘": 333, "’": 333,
    "A": 722, "B": 667, "C": 667, "D": 722, "E": 611, "F": 556, "G": 722, "H": 722, "I": 333, "J": 389, "K": 722,
    "L": 611, "M": 889, "N": 722, "O": 722, "P": 556, "Q": 722, "R": 667, "S": 556, "T": 611, "U": 722, "V": 722,
    "W": 944, "X": 722, "Y": 722, "Z": 611,
    "a": 444, "b": 500, "c": 444, "d": 500, "e": 444, "f": 333, "g": 500, "h": 500, "i": 278, "j": 278, "k": 500,
    "l": 278, "m": 778, "n": 500, "o": 500, "p": 500, "q": 500, "r": 333, "s": 389, "t": 278, "u": 500, "v": 500,
    "w": 722, "x": 500, "y": 500, "z": 444, "Đ": 722, "đ": 500,
}
_HORN = {"ơ": 560, "ư": 560, "Ơ": 790, "Ư": 790}


def text_width(text: str, size_pt: float) -> float:
    """The width of ``text`` in points, set in Times New Roman at ``size_pt``."""
    total = 0
    for char in unicodedata.normalize("NFC", text):
        base = unicodedata.normalize("NFD", char)
        horn = next((h for h in _HORN if unicodedata.normalize("NFD", h) in base), None)
        if horn is not None:
            total += _HORN[horn]
        elif char.isdigit():
            total += 500
        else:
            total += _WIDTHS.get(char, _WIDTHS.get(base[:1], 500))
    return total * size_pt / 1000


@dataclass(frozen=True)
class SummaryCell:
    width_pt: float  # room for text: the cell's width less its margins
    size_pt: float


def summary_cell(template: Path) -> SummaryCell | None:
    """The header cell holding "V/v": its usable width and the line's font size; None if not found."""
    try:
        data = template.read_bytes()
    except OSError:
        return None
    return _CELLS.get(data, _read_summary_cell)


# A run validates its campaign more than once, each time measuring its template.
_CELLS: ContentCache[SummaryCell | None] = ContentCache()


def _read_summary_cell(data: bytes) -> SummaryCell | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            document = etree.fromstring(z.read("word/document.xml"))
            styles = etree.fromstring(z.read("word/styles.xml")) if "word/styles.xml" in z.namelist() else None
    except (OSError, KeyError, zipfile.BadZipFile, etree.XMLSyntaxError):
        return None
    for para in document.iter(f"{_W}p"):
        text = "".join(t.text or "" for t in para.iter(f"{_W}t"))
        if not text.lstrip().startswith("V/v"):
            continue
        cell = next((a for a in para.iterancestors(f"{_W}tc")), None)
        if cell is None:
            return None
        tcw = cell.find(f"{_W}tcPr/{_W}tcW")
        if tcw is None or tcw.get(f"{_W}type", "dxa") != "dxa":
            return None
        width = int(tcw.get(f"{_W}w", "0")) - 2 * DEFAULT_CELL_MARGIN
        return SummaryCell(width / 20, _size(para, styles))
    return None


def _size(para: etree._Element, styles: etree._Element | None) -> float:
    size = para.find(f"{_W}r/{_W}rPr/{_W}sz")
    if size is None and styles is not None:
        style = para.find(f"{_W}pPr/{_W}pStyle")
        if style is not None:
            for st in styles.iter(f"{_W}style"):
                if st.get(f"{_W}styleId") == style.get(f"{_W}val"):
                    size = st.find(f"{_W}rPr/{_W}sz")
                    break
    try:
        return int(size.get(f"{_W}val", "26")) / 2 if size is not None else 13.0
    except ValueError:
        return 13.0


def overlong_lines(template: Path, lines: list[str]) -> list[tuple[int, str, float, float]]:
    """The summary lines Word will wrap in the template's "V/v" cell: (index, line as printed, its width and
    the cell's, in mm). The first line is printed after "V/v "."""
    cell = summary_cell(template)
    if cell is None:
        return []
    found = []
    for i, line in enumerate(lines):
        printed = f"V/v {line}" if i == 0 else line
        width = text_width(printed, cell.size_pt)
        if width > cell.width_pt * TOLERANCE:
            found.append((i, printed, width * 25.4 / 72, cell.width_pt * 25.4 / 72))
    return found
