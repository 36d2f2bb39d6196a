"""Effective formatting of a .docx, read from its XML.

The document as a ``DocumentModel`` (``model.py``), each run's properties resolved the way Word layers
them (``styles.py``), from the package as zipfile and lxml read it (``package.py``).

What the reader sees, not how it is encoded: a paragraph inside a table cell that is broken into
lines by ``w:br`` (an issuer, national-title or signature block typed as one paragraph) is read as
one paragraph per line, with the paragraph's spacing before on its first line and after on its last.
Body paragraphs are not split (a soft break inside body text stays one paragraph).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lxml import etree

from congvan.nd30.model import (
    NS,
    R_NS,
    DocumentModel,
    HeaderPart,
    Location,
    ParaFormat,
    RunFormat,
    SectionInfo,
    _Element,
    w,
)
from congvan.nd30.package import Part, PartTarget, main_part, parse_xml
from congvan.nd30.styles import (
    NO_NUMBERING,
    RUN_DEFAULTS,
    Numbering,
    Styles,
    collect_num_pr,
    collect_num_pr_of,
    merge_ppr,
    merge_rpr,
    numbering_of,
    styles_of,
    to_int,
    toggle,
)

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
    def __init__(self, styles: Styles, numbering: Numbering = NO_NUMBERING, *, memo: bool = False) -> None:
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
        merge_ppr(pacc, ppr)
        mark_rpr = ppr.find("w:rPr", NS) if ppr is not None else None
        if mark_rpr is None:
            mark_size = styled.rpr["size"]
        else:
            mark = dict(styled.rpr)
            merge_rpr(mark, mark_rpr, st.theme_fonts)
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
            collect_num_pr(s.find("w:pPr", NS), num)
        from_style = num["num_id"] not in (None, "0")
        direct = num_pr is not None
        if num_pr is not None:
            collect_num_pr_of(num_pr, num)
        numbered = num["num_id"] not in (None, "0")
        level = self.numbering.ppr(num["num_id"], num["ilvl"]) if numbered else None
        # The level's indents sit under the style that names the list, or over the style when the
        # paragraph itself is numbered (Word's order); the paragraph's own properties come last.
        merge_ppr(pacc, st.ppr_default)
        if from_style and not direct:
            merge_ppr(pacc, level)
        for s in chain:
            merge_ppr(pacc, s.find("w:pPr", NS))
        if direct:
            merge_ppr(pacc, level)
        base: dict[str, Any] = dict(RUN_DEFAULTS)
        merge_rpr(base, st.rpr_default, st.theme_fonts)
        for s in chain:
            merge_rpr(base, s.find("w:rPr", NS), st.theme_fonts)
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
            merge_rpr(acc, s.find("w:rPr", NS), self.styles.theme_fonts)
        merge_rpr(acc, rpr, self.styles.theme_fonts)
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
        return to_int(el.get(w(name))) if el is not None else None

    headers: list[HeaderPart] = []
    for ref in sect.iterfind("w:headerReference", NS):
        rid = ref.get(f"{{{R_NS}}}id")
        if rid is None or rid not in part.rels:
            continue
        hdr_part = part.rels[rid].target_part
        root = parse_xml(hdr_part.blob) if not hasattr(hdr_part, "element") else hdr_part.element
        paras, _ = _block_paragraphs(root, resolver, part="header")
        headers.append(HeaderPart(kind=ref.get(w("type"), "default"), paragraphs=tuple(paras),
                                  has_page_field=has_page_field(root)))
    return SectionInfo(
        page_width=attr(pg_sz, "w"), page_height=attr(pg_sz, "h"),
        orient=pg_sz.get(w("orient")) if pg_sz is not None else None,
        top=attr(pg_mar, "top"), bottom=attr(pg_mar, "bottom"), left=attr(pg_mar, "left"),
        right=attr(pg_mar, "right"), gutter=attr(pg_mar, "gutter"),
        title_page=bool(toggle(sect.find("w:titlePg", NS))),
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

    def resolver(self, styles: Styles, numbering: Numbering) -> _Resolver:
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
        main = main_part(package)
        part = Part(package, main)
        empty = PartTarget(None, "")
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
        styles, numbering = styles_of(styles_part, theme_part), numbering_of(numbering_part)
        resolver = cache.resolver(styles, numbering) if cache is not None else _Resolver(styles, numbering)
        root = parse_xml(package.read(main))
        body = root.find("w:body", NS)
        if body is None:
            raise KeyError(f"{main} has no w:body")
        paragraphs, tables = _block_paragraphs(body, resolver, part="body")
        sects = list(body.iter(w("sectPr")))
        sections = tuple(_section(sect, part, resolver, cache) for sect in sects)
    header_paras = tuple(p for s in sections for h in s.headers for p in h.paragraphs)
    return DocumentModel(paragraphs=tuple(paragraphs), sections=sections, tables=tables,
                         header_paragraphs=header_paras)
