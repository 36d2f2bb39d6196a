"""What the Decree-30 checker sees of a .docx: paragraphs as the reader sees them, their runs with effective
formatting, the sections with their page setup and headers (read by ``congvan.nd30.formatting``).

Lengths are in twentieths of a point (twips) as Word stores them, font sizes in points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from lxml import etree

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS = {"w": W_NS, "a": A_NS, "r": R_NS}

_Element = etree._Element


def w(tag: str) -> str:
    """Clark name of a WordprocessingML tag or attribute: ``w("sz")`` → ``{…/main}sz``."""
    return f"{{{W_NS}}}{tag}"


@dataclass(frozen=True)
class RunFormat:
    """One text run with its effective formatting. Sizes in points."""

    text: str
    size: float | None
    bold: bool
    italic: bool
    caps: bool
    underline: bool
    font_ascii: str | None
    font_hansi: str | None
    font_cs: str | None
    font_east_asia: str | None
    color: str | None
    highlight: str | None
    shading: str | None

    @property
    def display(self) -> str:
        """The text as printed (``w:caps`` shows it in capitals)."""
        return self.text.upper() if self.caps else self.text

    @property
    def fonts(self) -> tuple[str, ...]:
        return tuple(f for f in (self.font_ascii, self.font_hansi, self.font_cs, self.font_east_asia) if f)


@dataclass(frozen=True)
class Location:
    """Where a paragraph sits: the body (table is None) or a cell of the n-th top-level table."""

    part: str = "body"
    table: int | None = None
    row: int = 0
    col: int = 0


@dataclass(frozen=True)
class ParaFormat:
    """One paragraph with its effective paragraph properties. Lengths in twips. The derived views (text,
    flat, inked…) are computed once per paragraph: the rules ask for them many times."""

    index: int
    location: Location
    style_id: str | None
    align: str | None
    left: int
    first_line: int  # negative for a hanging indent
    before: int
    after: int
    line: int | None
    line_rule: str
    contextual: bool
    runs: tuple[RunFormat, ...]
    mark_size: float | None = None  # the paragraph mark's size: the height of an empty paragraph
    numbered: bool = False  # Word's automatic numbering (w:numPr) applies

    @cached_property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)

    @cached_property
    def display(self) -> str:
        return "".join(r.display for r in self.runs)

    @cached_property
    def flat(self) -> str:
        """Printed text with line breaks and repeated spaces collapsed to one space, stripped."""
        return " ".join(self.display.split())

    @cached_property
    def inked(self) -> tuple[RunFormat, ...]:
        """Runs that print something other than white space."""
        return tuple(r for r in self.runs if r.text.strip())

    @cached_property
    def sizes(self) -> frozenset[float | None]:
        return frozenset(r.size for r in self.inked)

    @cached_property
    def size(self) -> float | None:
        """The size if every inked run has the same one, else None."""
        sizes = self.sizes
        return next(iter(sizes)) if len(sizes) == 1 else None

    @cached_property
    def all_bold(self) -> bool:
        return bool(self.inked) and all(r.bold for r in self.inked)

    @cached_property
    def any_bold(self) -> bool:
        return any(r.bold for r in self.inked)

    @cached_property
    def all_italic(self) -> bool:
        return bool(self.inked) and all(r.italic for r in self.inked)

    @cached_property
    def any_italic(self) -> bool:
        return any(r.italic for r in self.inked)

    @cached_property
    def any_underline(self) -> bool:
        return any(r.underline for r in self.inked)

    @property
    def centred(self) -> bool:
        return self.align == "center"

    @property
    def left_aligned(self) -> bool:
        return self.align in (None, "left", "start")


@dataclass(frozen=True)
class HeaderPart:
    """A header part referenced from a section, by type ("default", "first", "even")."""

    kind: str
    paragraphs: tuple[ParaFormat, ...]
    has_page_field: bool


@dataclass(frozen=True)
class SectionInfo:
    """Page setup of one section. Lengths in twips; None when the attribute is absent."""

    page_width: int | None
    page_height: int | None
    orient: str | None
    top: int | None
    bottom: int | None
    left: int | None
    right: int | None
    gutter: int | None
    title_page: bool
    page_start: int | None
    page_format: str | None
    headers: tuple[HeaderPart, ...] = ()

    def header(self, kind: str) -> HeaderPart | None:
        return next((h for h in self.headers if h.kind == kind), None)


@dataclass(frozen=True)
class DocumentModel:
    paragraphs: tuple[ParaFormat, ...]
    sections: tuple[SectionInfo, ...]
    tables: int = 0
    header_paragraphs: tuple[ParaFormat, ...] = field(default=())
