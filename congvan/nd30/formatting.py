"""Effective formatting of a .docx, read from its XML.

Run properties are resolved the way Word layers them: ``w:docDefaults`` → the paragraph's style
chain (``w:basedOn``, the default paragraph style when none is named) → the run's character style
chain → the run's own ``w:rPr``. Paragraph properties: ``w:pPrDefault`` → paragraph style chain →
the numbering level the paragraph (or its style) points to (``w:numPr`` → ``numbering.xml``) → the
paragraph's own ``w:pPr``. ``w:spacing`` and ``w:ind`` merge attribute by attribute.

What the reader sees, not how it is encoded: a paragraph inside a table cell that is broken into
lines by ``w:br`` (an issuer, national-title or signature block typed as one paragraph) is read as
one paragraph per line, with the paragraph's spacing before on its first line and after on its last.
Body paragraphs are not split (a soft break inside body text stays one paragraph).

Simplifications (documented, not hidden): toggle properties (b, i, caps) take the last explicit
value instead of XOR-ing across style levels, and table styles are not applied.
"""

from __future__ import annotations

import hashlib
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from lxml import etree

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS = {"w": W_NS, "a": A_NS, "r": R_NS}

_Element = etree._Element


def w(tag: str) -> str:
    """Clark name of a WordprocessingML tag or attribute: ``w("sz")`` → ``{…/main}sz``."""
    return f"{{{W_NS}}}{tag}"


_FALSE = {"0", "false", "off", "none"}


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


# --- style resolution ------------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _on(el: _Element | None) -> bool | None:
    """A toggle element: None when absent, else its boolean value (no w:val means on)."""
    if el is None:
        return None
    val = el.get(w("val"))
    return val is None or val.lower() not in _FALSE


class _Styles:
    def __init__(self, styles_root: _Element | None, theme_root: _Element | None) -> None:
        self.key = b""  # the digest of styles.xml and the theme it was read from
        self.by_id: dict[str, _Element] = {}
        self.default_para: str | None = None
        self.default_char: str | None = None
        self.rpr_default: _Element | None = None
        self.ppr_default: _Element | None = None
        self.theme_fonts: dict[str, str] = {}
        if styles_root is not None:
            for st in styles_root.iterfind("w:style", NS):
                sid = st.get(w("styleId"))
                if sid is None:
                    continue
                self.by_id[sid] = st
                if st.get(w("default")) in ("1", "true", "on"):
                    if st.get(w("type")) == "paragraph":
                        self.default_para = sid
                    elif st.get(w("type")) == "character":
                        self.default_char = sid
            self.rpr_default = styles_root.find("w:docDefaults/w:rPrDefault/w:rPr", NS)
            self.ppr_default = styles_root.find("w:docDefaults/w:pPrDefault/w:pPr", NS)
        if theme_root is not None:
            for kind in ("major", "minor"):
                for script, names in (("latin", ("HAnsi", "Ascii")), ("ea", ("EastAsia",)), ("cs", ("Bidi",))):
                    el = theme_root.find(f".//a:fontScheme/a:{kind}Font/a:{script}", NS)
                    face = el.get("typeface") if el is not None else None
                    if face:
                        for name in names:
                            self.theme_fonts[f"{kind}{name}"] = face

    def chain(self, style_id: str | None) -> list[_Element]:
        """The style and its ancestors, base first."""
        out: list[_Element] = []
        seen: set[str] = set()
        while style_id and style_id in self.by_id and style_id not in seen:
            seen.add(style_id)
            st = self.by_id[style_id]
            out.append(st)
            based = st.find("w:basedOn", NS)
            style_id = based.get(w("val")) if based is not None else None
        return list(reversed(out))


def _merge_rpr(acc: dict[str, Any], rpr: _Element | None, theme: dict[str, str]) -> None:
    if rpr is None:
        return
    fonts = rpr.find("w:rFonts", NS)
    if fonts is not None:
        for slot, attr, key in (("ascii", "ascii", "font_ascii"), ("hAnsi", "hAnsi", "font_hansi"),
                                ("cs", "cs", "font_cs"), ("eastAsia", "eastAsia", "font_east_asia")):
            theme_attr = {"ascii": "asciiTheme", "hAnsi": "hAnsiTheme", "cs": "cstheme",
                          "eastAsia": "eastAsiaTheme"}[slot]
            if fonts.get(w(theme_attr)) is not None:
                acc[key] = theme.get(fonts.get(w(theme_attr), ""), fonts.get(w(theme_attr)))
            elif fonts.get(w(attr)) is not None:
                acc[key] = fonts.get(w(attr))
    sz = rpr.find("w:sz", NS)
    if sz is not None and _int(sz.get(w("val"))) is not None:
        acc["size"] = (_int(sz.get(w("val"))) or 0) / 2
    for tag, key in (("b", "bold"), ("i", "italic"), ("caps", "caps")):
        val = _on(rpr.find(f"w:{tag}", NS))
        if val is not None:
            acc[key] = val
    u = rpr.find("w:u", NS)
    if u is not None:
        acc["underline"] = (u.get(w("val")) or "single") != "none"
    color = rpr.find("w:color", NS)
    if color is not None:
        acc["color"] = color.get(w("val"))
    hl = rpr.find("w:highlight", NS)
    if hl is not None:
        acc["highlight"] = hl.get(w("val"))
    shd = rpr.find("w:shd", NS)
    if shd is not None:
        acc["shading"] = shd.get(w("fill"))


def _merge_ppr(acc: dict[str, Any], ppr: _Element | None) -> None:
    if ppr is None:
        return
    jc = ppr.find("w:jc", NS)
    if jc is not None:
        acc["align"] = jc.get(w("val"))
    sp = ppr.find("w:spacing", NS)
    if sp is not None:
        for attr, key in (("before", "before"), ("after", "after"), ("line", "line")):
            val = _int(sp.get(w(attr)))
            if val is not None:
                acc[key] = val
        if sp.get(w("lineRule")) is not None:
            acc["line_rule"] = sp.get(w("lineRule"))
    ind = ppr.find("w:ind", NS)
    if ind is not None:
        for attr in ("left", "start"):
            val = _int(ind.get(w(attr)))
            if val is not None:
                acc["left"] = val
        first = _int(ind.get(w("firstLine")))
        hanging = _int(ind.get(w("hanging")))
        if hanging is not None:
            acc["first_line"] = -hanging
        elif first is not None:
            acc["first_line"] = first
    ctx = _on(ppr.find("w:contextualSpacing", NS))
    if ctx is not None:
        acc["contextual"] = ctx


_RUN_DEFAULTS: dict[str, Any] = {
    "size": 10.0, "bold": False, "italic": False, "caps": False, "underline": False,
    "font_ascii": None, "font_hansi": None, "font_cs": None, "font_east_asia": None,
    "color": None, "highlight": None, "shading": None,
}


class _Numbering:
    """``numbering.xml``: the paragraph properties (indents) of each (numId, level)."""

    def __init__(self, root: _Element | None) -> None:
        self.key = b""  # the digest of numbering.xml it was read from
        self.levels: dict[tuple[str, int], _Element | None] = {}
        if root is None:
            return
        abstract: dict[str, dict[int, _Element]] = {}
        for an in root.iterfind("w:abstractNum", NS):
            aid = an.get(w("abstractNumId"))
            if aid is not None:
                abstract[aid] = {(_int(lvl.get(w("ilvl"))) or 0): lvl for lvl in an.iterfind("w:lvl", NS)}
        for num in root.iterfind("w:num", NS):
            nid = num.get(w("numId"))
            ref = num.find("w:abstractNumId", NS)
            if nid is None or ref is None:
                continue
            levels = dict(abstract.get(ref.get(w("val"), ""), {}))
            for override in num.iterfind("w:lvlOverride", NS):
                lvl = override.find("w:lvl", NS)
                if lvl is not None:
                    levels[_int(override.get(w("ilvl"))) or 0] = lvl
            for ilvl, lvl in levels.items():
                self.levels[(nid, ilvl)] = lvl.find("w:pPr", NS)

    def ppr(self, num_id: str, ilvl: int) -> _Element | None:
        return self.levels.get((num_id, ilvl))


def _num_pr(ppr: _Element | None, acc: dict[str, Any]) -> None:
    """Collect numId/ilvl from a w:pPr's w:numPr (later levels override earlier ones)."""
    if ppr is None:
        return
    num_pr = ppr.find("w:numPr", NS)
    if num_pr is not None:
        _num_pr_of(num_pr, acc)


def _num_pr_of(num_pr: _Element, acc: dict[str, Any]) -> None:
    num_id = num_pr.find("w:numId", NS)
    ilvl = num_pr.find("w:ilvl", NS)
    if num_id is not None:
        acc["num_id"] = num_id.get(w("val"))
    if ilvl is not None:
        acc["ilvl"] = _int(ilvl.get(w("val"))) or 0


_NO_NUMBERING = _Numbering(None)


_NOWHERE = Location()
_MEMO_LIMIT = 20_000  # paragraphs remembered per template (a few MB); cleared when full


def _placed(p: ParaFormat, index: int, location: Location) -> ParaFormat:
    """``p`` at another index and location (a memoised paragraph placed in this document)."""
    if p.index == index and p.location == location:
        return p
    placed = object.__new__(ParaFormat)
    placed.__dict__.update(p.__dict__, index=index, location=location)  # frozen: no __setattr__
    return placed


class _Resolver:
    def __init__(self, styles: _Styles, numbering: _Numbering = _NO_NUMBERING, *, memo: bool = False) -> None:
        self.styles = styles
        self.numbering = numbering
        # A paragraph's lines as read, by the paragraph's XML (text and formatting, byte for byte): with
        # these styles and numbering, the same bytes always read the same.
        self.memo: dict[bytes, tuple[ParaFormat, ...]] | None = {} if memo else None
        self._styled_memo: dict[tuple[str | None, bytes], _Styled] = {}
        self._run_memo: dict[tuple[str | None, bytes], dict[str, Any]] = {}

    def lines(self, p: _Element, index: int, location: Location, split: bool) -> tuple[ParaFormat, ...]:
        """The paragraph as the reader sees it (one per line when ``split``), numbered from ``index``."""
        memo = self.memo
        if memo is None:
            first = self.paragraph(p, index, location)
            found = split_lines(first) if split else (first,)
        else:
            key = etree.tostring(p) + (b"\0split" if split else b"")
            hit = memo.get(key)
            if hit is None:
                first = self.paragraph(p, 0, _NOWHERE)
                hit = split_lines(first) if split else (first,)
                for q in hit:  # computed once here, then shared by every letter this paragraph is in
                    _ = q.flat, q.inked, q.size, q.all_bold, q.any_bold, q.all_italic, q.any_italic
                if len(memo) >= _MEMO_LIMIT:
                    memo.clear()
                memo[key] = hit
            found = hit
        return tuple(_placed(q, index + n, location) for n, q in enumerate(found))

    def paragraph(self, p: _Element, index: int, location: Location) -> ParaFormat:
        st = self.styles
        ppr = p.find("w:pPr", NS)
        pstyle_el = ppr.find("w:pStyle", NS) if ppr is not None else None
        style_id = pstyle_el.get(w("val")) if pstyle_el is not None else st.default_para
        num_pr = ppr.find("w:numPr", NS) if ppr is not None else None
        if self.memo is None:
            styled = self._styled(style_id, num_pr)
        else:  # what the style (and list) gives, once per template
            key = (style_id, etree.tostring(num_pr) if num_pr is not None else b"")
            styled = self._styled_memo.get(key) or self._styled_memo.setdefault(key, self._styled(style_id, num_pr))
        pacc = dict(styled.ppr)
        _merge_ppr(pacc, ppr)
        mark_rpr = ppr.find("w:rPr", NS) if ppr is not None else None
        if mark_rpr is None:
            mark_size = styled.rpr["size"]
        else:
            mark = dict(styled.rpr)
            _merge_rpr(mark, mark_rpr, st.theme_fonts)
            mark_size = mark["size"]
        runs = tuple(self._run(r, styled.rpr, style_id) for r in _runs_of(p))
        return ParaFormat(index=index, location=location, style_id=style_id, runs=runs,
                          align=pacc["align"], left=pacc["left"], first_line=pacc["first_line"],
                          before=pacc["before"], after=pacc["after"], line=pacc["line"],
                          line_rule=pacc["line_rule"], contextual=pacc["contextual"],
                          mark_size=mark_size, numbered=styled.numbered)

    def _styled(self, style_id: str | None, num_pr: _Element | None) -> _Styled:
        """Paragraph and run properties from the defaults, the style chain and the numbering level,
        before the paragraph's own properties."""
        st = self.styles
        chain = st.chain(style_id)
        pacc: dict[str, Any] = {"align": None, "left": 0, "first_line": 0, "before": 0, "after": 0,
                                "line": None, "line_rule": "auto", "contextual": False}
        num: dict[str, Any] = {"num_id": None, "ilvl": 0}
        for s in chain:
            _num_pr(s.find("w:pPr", NS), num)
        from_style = num["num_id"] not in (None, "0")
        direct = num_pr is not None
        if num_pr is not None:
            _num_pr_of(num_pr, num)
        numbered = num["num_id"] not in (None, "0")
        level = self.numbering.ppr(num["num_id"], num["ilvl"]) if numbered else None
        # The level's indents sit under the style that names the list, or over the style when the
        # paragraph itself is numbered (Word's order); the paragraph's own properties come last.
        _merge_ppr(pacc, st.ppr_default)
        if from_style and not direct:
            _merge_ppr(pacc, level)
        for s in chain:
            _merge_ppr(pacc, s.find("w:pPr", NS))
        if direct:
            _merge_ppr(pacc, level)
        base: dict[str, Any] = dict(_RUN_DEFAULTS)
        _merge_rpr(base, st.rpr_default, st.theme_fonts)
        for s in chain:
            _merge_rpr(base, s.find("w:rPr", NS), st.theme_fonts)
        return _Styled(pacc, base, numbered)

    def _run(self, r: _Element, base: dict[str, Any], style_id: str | None) -> RunFormat:
        rpr = r.find("w:rPr", NS)
        if self.memo is None:
            acc = self._run_props(rpr, base)
        else:  # the same run properties under the same paragraph style: once per template
            key = (style_id, etree.tostring(rpr) if rpr is not None else b"")
            found = self._run_memo.get(key)
            if found is None:
                if len(self._run_memo) >= _MEMO_LIMIT:
                    self._run_memo.clear()
                found = self._run_memo[key] = self._run_props(rpr, base)
            acc = found
        return RunFormat(text=_run_text(r), **acc)

    def _run_props(self, rpr: _Element | None, base: dict[str, Any]) -> dict[str, Any]:
        acc = dict(base)
        rstyle = rpr.find("w:rStyle", NS) if rpr is not None else None
        char_style = rstyle.get(w("val")) if rstyle is not None else self.styles.default_char
        for s in self.styles.chain(char_style):
            _merge_rpr(acc, s.find("w:rPr", NS), self.styles.theme_fonts)
        _merge_rpr(acc, rpr, self.styles.theme_fonts)
        return acc


@dataclass(frozen=True)
class _Styled:
    ppr: dict[str, Any]
    rpr: dict[str, Any]
    numbered: bool


def _runs_of(p: _Element) -> Iterator[_Element]:
    """Runs of a paragraph, including those inside hyperlinks, fields, smart tags and insertions."""
    for r in p.iter(w("r")):
        parent = r.getparent()
        # skip runs of nested paragraphs (text boxes) and deleted text
        if parent is not None and parent.tag == w("del"):
            continue
        owner = r.getparent()
        while owner is not None and owner.tag != w("p"):
            owner = owner.getparent()
        if owner is p:
            yield r


def _run_text(r: _Element) -> str:
    parts: list[str] = []
    for child in r:
        if child.tag == w("t"):
            parts.append(child.text or "")
        elif child.tag == w("tab"):
            parts.append("\t")
        elif child.tag in (w("br"), w("cr")):
            parts.append("\n")
        elif child.tag == w("noBreakHyphen"):
            parts.append("-")
    return "".join(parts)


def _cell_paragraphs(tc: _Element) -> Iterator[_Element]:
    """Paragraphs of a cell, including those of nested tables, in order."""
    for child in tc:
        if child.tag == w("p"):
            yield child
        elif child.tag == w("tbl"):
            for tr in child.iterfind("w:tr", NS):
                for inner in tr.iterfind("w:tc", NS):
                    yield from _cell_paragraphs(inner)


def _block_paragraphs(container: _Element, resolver: _Resolver, part: str,
                      start: int = 0) -> tuple[list[ParaFormat], int]:
    out: list[ParaFormat] = []
    tables = 0
    for child in container:
        if child.tag == w("p"):
            out.extend(resolver.lines(child, start + len(out), Location(part=part), split=False))
        elif child.tag == w("tbl"):
            for ri, tr in enumerate(child.iterfind("w:tr", NS)):
                for ci, tc in enumerate(tr.iterfind("w:tc", NS)):
                    loc = Location(part=part, table=tables, row=ri, col=ci)
                    for p in _cell_paragraphs(tc):
                        out.extend(resolver.lines(p, start + len(out), loc, split=True))
            tables += 1
        elif child.tag == w("sdt"):
            content = child.find("w:sdtContent", NS)
            if content is not None:
                inner, n = _block_paragraphs(content, resolver, part, start + len(out))
                out.extend(inner)
                tables += n
    return out, tables


def split_lines(p: ParaFormat) -> tuple[ParaFormat, ...]:
    """A paragraph broken by ``w:br`` as the lines the reader sees: one paragraph each, the first keeping
    the spacing before and the first-line indent, the last the spacing after."""
    if not any("\n" in r.text for r in p.runs):
        return (p,)
    lines: list[list[RunFormat]] = [[]]
    for r in p.runs:
        pieces = r.text.split("\n")
        for n, piece in enumerate(pieces):
            if n:
                lines.append([])
            if piece:
                lines[-1].append(replace(r, text=piece))
    last = len(lines) - 1
    return tuple(replace(p, runs=tuple(runs), before=p.before if n == 0 else 0, after=p.after if n == last else 0,
                         first_line=p.first_line if n == 0 else 0)
                 for n, runs in enumerate(lines))


def has_page_field(root: _Element) -> bool:
    """Whether a part contains a PAGE field (simple or complex), not NUMPAGES/SECTIONPAGES."""
    instrs = [el.get(w("instr"), "") for el in root.iter(w("fldSimple"))]
    instrs += [el.text or "" for el in root.iter(w("instrText"))]
    return any(i.split() and i.split()[0].upper() == "PAGE" for i in instrs)


def _section(sect: _Element, part: Any, resolver: _Resolver, cache: ReadCache | None = None) -> SectionInfo:
    if cache is not None:  # page setup and header parts, byte for byte, read once
        blobs = [part.rels[rid].target_part.blob for ref in sect.iterfind("w:headerReference", NS)
                 if (rid := ref.get(f"{{{R_NS}}}id")) is not None and rid in part.rels]
        key = b"\0".join([resolver.styles.key, resolver.numbering.key, etree.tostring(sect), *blobs])
        found = cache.sections.get(key)
        if found is None:
            if len(cache.sections) >= _MEMO_LIMIT:
                cache.sections.clear()
            found = cache.sections[key] = _section(sect, part, resolver)
        return found
    pg_sz = sect.find("w:pgSz", NS)
    pg_mar = sect.find("w:pgMar", NS)
    num = sect.find("w:pgNumType", NS)

    def attr(el: _Element | None, name: str) -> int | None:
        return _int(el.get(w(name))) if el is not None else None

    headers: list[HeaderPart] = []
    for ref in sect.iterfind("w:headerReference", NS):
        rid = ref.get(f"{{{R_NS}}}id")
        if rid is None or rid not in part.rels:
            continue
        hdr_part = part.rels[rid].target_part
        root = _parse(hdr_part.blob) if not hasattr(hdr_part, "element") else hdr_part.element
        paras, _ = _block_paragraphs(root, resolver, part="header")
        headers.append(HeaderPart(kind=ref.get(w("type"), "default"), paragraphs=tuple(paras),
                                  has_page_field=has_page_field(root)))
    return SectionInfo(
        page_width=attr(pg_sz, "w"), page_height=attr(pg_sz, "h"),
        orient=pg_sz.get(w("orient")) if pg_sz is not None else None,
        top=attr(pg_mar, "top"), bottom=attr(pg_mar, "bottom"), left=attr(pg_mar, "left"),
        right=attr(pg_mar, "right"), gutter=attr(pg_mar, "gutter"),
        title_page=bool(_on(sect.find("w:titlePg", NS))),
        page_start=attr(num, "start"),
        page_format=num.get(w("fmt")) if num is not None else None,
        headers=tuple(headers),
    )


class ReadCache:
    """What the letters made from one template share, read once: the page setup and header parts, and
    every paragraph whose XML (text and formatting) is byte for byte one already read with the same
    styles and numbering. A letter then costs what varies in it. Reading through a cache gives the same
    model as reading without one (every memo is keyed by the whole input it stands for)."""

    def __init__(self) -> None:
        self.resolvers: dict[tuple[bytes, bytes], _Resolver] = {}
        self.sections: dict[bytes, SectionInfo] = {}

    def resolver(self, styles: _Styles, numbering: _Numbering) -> _Resolver:
        key = (styles.key, numbering.key)
        found = self.resolvers.get(key)
        if found is None:
            if len(self.resolvers) > 16:
                self.resolvers.clear()
            found = self.resolvers[key] = _Resolver(styles, numbering, memo=True)
        return found


def read_document(path: Path, cache: ReadCache | None = None) -> DocumentModel:
    """Open a .docx and resolve the effective formatting of every paragraph and section.

    The package is read with zipfile and lxml, not python-docx: every letter of a campaign is checked
    before it leaves, and opening all of a package's parts was most of the time. Styles and theme,
    identical in every letter made from one template, are parsed once per process; with a ``cache``,
    so are the paragraphs and sections the letters share (see ``ReadCache``).
    """
    with zipfile.ZipFile(path) as package:
        main = _main_part(package)
        part = _Part(package, main)
        empty = _Target(None, "")
        styles_part = theme_part = numbering_part = empty
        for rel in part.rels.values():
            if rel.is_external:
                continue
            if rel.reltype.endswith("/styles"):
                styles_part = rel.target_part
            elif rel.reltype.endswith("/theme"):
                theme_part = rel.target_part
            elif rel.reltype.endswith("/numbering"):
                numbering_part = rel.target_part
        styles, numbering = _styles(styles_part, theme_part), _numbering(numbering_part)
        resolver = cache.resolver(styles, numbering) if cache is not None else _Resolver(styles, numbering)
        root = _parse(package.read(main))
        body = root.find("w:body", NS)
        if body is None:
            raise KeyError(f"{main} has no w:body")
        paragraphs, tables = _block_paragraphs(body, resolver, part="body")
        sects = list(body.iter(w("sectPr")))
        sections = tuple(_section(sect, part, resolver, cache) for sect in sects)
    header_paras = tuple(p for s in sections for h in s.headers for p in h.paragraphs)
    return DocumentModel(paragraphs=tuple(paragraphs), sections=sections, tables=tables,
                         header_paragraphs=header_paras)


# No DTDs, entities or network: a .docx to check may come from anywhere.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_OFFICE_DOCUMENT = "/officeDocument"


def _parse(blob: bytes) -> _Element:
    return etree.fromstring(blob, _PARSER)


class _Target:
    """A part of the package, read (inflated) on first use."""

    def __init__(self, package: zipfile.ZipFile | None, name: str) -> None:
        self.package, self.name = package, name
        self._blob: bytes | None = None if package is not None else b""

    @property
    def blob(self) -> bytes:
        if self._blob is None:
            assert self.package is not None
            self._blob = self.package.read(self.name)
        return self._blob

    def digest(self) -> bytes:
        """A digest of the part's stored (compressed) bytes, without inflating it: equal stored bytes are
        equal content, so a part identical in every letter of a template is recognised for the cost of
        hashing its compressed form. Falls back on the inflated content when the stored bytes cannot be
        read."""
        package = self.package
        if package is None:
            return hashlib.blake2b(b"", digest_size=16).digest()
        info = package.getinfo(self.name)
        fp = package.fp
        if fp is None or info.flag_bits & 0x1:  # closed, or encrypted
            return hashlib.blake2b(self.blob, digest_size=16).digest()
        fp.seek(info.header_offset)
        local = fp.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            return hashlib.blake2b(self.blob, digest_size=16).digest()
        skip = int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
        fp.seek(info.header_offset + 30 + skip)
        stored = fp.read(info.compress_size)
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{info.compress_type}:{info.file_size}:{info.CRC}:".encode())
        h.update(stored)
        return h.digest()


@dataclass(frozen=True)
class _Rel:
    reltype: str
    is_external: bool
    target_part: _Target


class _Part:
    """What ``_section`` needs of a part: its relationships, targets read lazily from the package."""

    def __init__(self, package: zipfile.ZipFile, name: str) -> None:
        self.rels: dict[str, _Rel] = {}
        folder, _, base = name.rpartition("/")
        rels_name = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        names = set(package.namelist())
        if rels_name not in names:
            return
        for rel in _parse(package.read(rels_name)):
            rid, target = rel.get("Id"), rel.get("Target", "")
            external = rel.get("TargetMode") == "External"
            if rid is None:
                continue
            member = _resolve(folder, target)
            if not external and member not in names:
                raise KeyError(f"There is no item named {member!r} in the archive")
            self.rels[rid] = _Rel(rel.get("Type", ""), external, _Target(None if external else package, member))


def _main_part(package: zipfile.ZipFile) -> str:
    for rel in _parse(package.read("_rels/.rels")):
        if rel.get("Type", "").endswith(_OFFICE_DOCUMENT):
            return _resolve("", rel.get("Target", ""))
    raise KeyError("no main document part")


def _resolve(folder: str, target: str) -> str:
    """A relationship target as a name in the zip ("styles.xml" from "word" -> "word/styles.xml")."""
    if target.startswith("/"):
        return posixpath.normpath(target.lstrip("/"))
    return posixpath.normpath(posixpath.join(folder, target)) if folder else posixpath.normpath(target)


_styles_cache: dict[bytes, _Styles] = {}
_numbering_cache: dict[bytes, _Numbering] = {}


def _numbering(part: _Target) -> _Numbering:
    if part.package is None:
        return _NO_NUMBERING
    key = part.digest()
    found = _numbering_cache.get(key)
    if found is None:
        if len(_numbering_cache) > 16:
            _numbering_cache.clear()
        blob = part.blob
        found = _numbering_cache[key] = _Numbering(_parse(blob) if blob else None)
        found.key = key
    return found


def _styles(styles_part: _Target, theme_part: _Target) -> _Styles:
    key = styles_part.digest() + theme_part.digest()
    found = _styles_cache.get(key)
    if found is None:
        if len(_styles_cache) > 16:
            _styles_cache.clear()
        styles_blob, theme_blob = styles_part.blob, theme_part.blob
        found = _styles_cache[key] = _Styles(_parse(styles_blob) if styles_blob else None,
                                             _parse(theme_blob) if theme_blob else None)
        found.key = key
    return found
