"""Decree 30/2020/NĐ-CP, Appendix I: machine checks for a công văn (.docx), profile "14".

``kind="bao_cao"`` checks a báo cáo instead: a named document, so the công văn-only rules give way (no
"V/v" line under Số: H14, H15; "Kính gửi" only if present: R1) to the named-document ones (type name and
bold summary centred under the header: H16; the type code "BC" leading the symbol: H9).

Rule ids, and what each asserts, are listed in docs/design.md §4.2. Each check returns ``Violation`` objects; ``check``
runs them all on the components ``layout.locate`` finds. Here: the page, fonts, body and signature rules and the
checker; the header block's and the recipients' rules are in ``rules_header``. Rules apply to what the reader
sees: lines broken by ``w:br`` in a cell, indents from Word's numbering, and the blank lines of empty paragraphs
between body paragraphs (see ``formatting``).
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path

from lxml import etree

from congvan.errors import DocumentError
from congvan.nd30.formatting import ReadCache, read_document
from congvan.nd30.layout import AUTHORITY_PREFIXES, TYPE_NAMES, DocumentKind, Layout, locate
from congvan.nd30.model import DocumentModel, ParaFormat, RunFormat, SectionInfo
from congvan.nd30.rules_header import check_header, check_recipients
from congvan.nd30.violation import MM, TNR, Violation, has_lower, pt, size_in, violation

# --- page and section ------------------------------------------------------------------------------


def _in(value: int | None, lo: int, hi: int, slack: int = 2) -> bool:
    return value is not None and lo - slack <= value <= hi + slack


def _mm(value: int | None) -> str:
    return "missing" if value is None else f"{value / MM:.1f} mm"


def check_page(layout: Layout) -> Iterator[Violation]:
    for n, s in enumerate(layout.model.sections, start=1):
        label = f"section {n}"
        width, height = s.page_width, s.page_height
        portrait = _in(width, 11906, 11906, 57) and _in(height, 16838, 16838, 57)
        landscape = _in(width, 16838, 16838, 57) and _in(height, 11906, 11906, 57)
        if not portrait:
            found = f"{label}: {_mm(width)} × {_mm(height)}"
            why = "landscape A4 only for wide tables (review)" if landscape else "A4 portrait 210 × 297 mm"
            yield violation("P1", found, why)
        if not (_in(s.top, 1134, 1417) and _in(s.bottom, 1134, 1417)):
            yield violation("P2", f"{label}: top {_mm(s.top)}, bottom {_mm(s.bottom)}",
                            "top and bottom margins 20–25 mm")
        if not _in(s.left, 1701, 1984):
            yield violation("P3", f"{label}: left {_mm(s.left)}", "left margin 30–35 mm")
        if not _in(s.right, 850, 1134):
            yield violation("P4", f"{label}: right {_mm(s.right)}", "right margin 15–20 mm")
    yield from _check_page_numbers(layout.model.sections)


def _check_page_numbers(sections: Sequence[SectionInfo]) -> Iterator[Violation]:
    if not sections:
        return
    first = sections[0]
    default = first.header("default")
    if default is None or not default.has_page_field:
        yield violation("P6", "no PAGE field in the default header",
                 "a centred PAGE field in the header from page 2 (letters longer than one page)")
    else:
        for p in default.paragraphs:
            if p.flat and (not p.centred or not size_in(p, 13, 14) or p.any_italic):
                yield violation("P6", f"page number {p.flat} ({pt(p.size)}, align {p.align})",
                         "page number centred, 13–14 pt, upright")
    first_hdr = first.header("first")
    if default is not None and default.has_page_field and not first.title_page:
        yield violation("P7", "page number shown on page 1 (no titlePg)",
                 "no page number on page 1 (w:titlePg with an empty first-page header)")
    elif first.title_page and first_hdr is not None and first_hdr.has_page_field:
        yield violation("P7", "PAGE field in the first-page header", "no page number on page 1")
    if first.page_start is not None and first.page_start != 1:
        yield violation("P8", f"pgNumType start={first.page_start}", "page numbering starting at 1")
    if first.page_format not in (None, "decimal"):
        yield violation("P8", f"pgNumType fmt={first.page_format}", "Arabic page numbers (decimal)")


# --- fonts, encoding, colour -----------------------------------------------------------------------

LEGACY_FONT = re.compile(r"^(\.vn|vni[- ]|vn[- ]?times|vntime)", re.IGNORECASE)


_FontMemo = dict[int, tuple[tuple[RunFormat, ...], tuple[Violation, ...]]]
_font_memo: _FontMemo = {}


def check_fonts(layout: Layout) -> Iterator[Violation]:
    model = layout.model
    for p in (*model.paragraphs, *model.header_paragraphs):
        # F1–F4 depend on the runs alone; a paragraph read once for many letters shares its runs
        # (the very same tuple), so its verdict is worked out once. Keyed by identity, the tuple kept
        # alive with it so the key cannot be reused.
        found = _font_memo.get(id(p.runs))
        if found is None or found[0] is not p.runs:
            if len(_font_memo) >= 20_000:
                _font_memo.clear()
            found = _font_memo[id(p.runs)] = (p.runs, tuple(_paragraph_fonts(p)))
        yield from found[1]
    qh, motto, pd = layout.quoc_hieu, layout.motto, layout.place_date
    if qh is not None and qh.size in (12, 13):
        want = qh.size + 1
        for part, other in (("Tiêu ngữ", motto), ("place/date", pd)):
            if other is not None and other.size != want:
                yield violation("F5", other.flat, f"{part} at {want:g} pt to match Quốc hiệu at {qh.size:g} pt "
                                           f"(found {pt(other.size)})")


def _paragraph_fonts(p: ParaFormat) -> Iterator[Violation]:
    inked = p.inked
    if inked:
        bad_face = next((r for r in inked if r.font_ascii != TNR or r.font_hansi != TNR), None)
        if bad_face is not None:
            yield violation("F1", bad_face.text, f"Times New Roman (found {bad_face.font_ascii}/{bad_face.font_hansi})")
        legacy = next((r for r in inked if any(LEGACY_FONT.match(f) for f in r.fonts)), None)
        if legacy is not None:
            yield violation("F2", legacy.text, f"a Unicode font, not the legacy {', '.join(sorted(set(legacy.fonts)))}")
        coloured = next((r for r in inked if (r.color or "auto").lower() not in ("auto", "000000")
                         or (r.highlight or "none").lower() != "none"
                         or (r.shading or "auto").lower() not in ("auto", "ffffff", "none")), None)
        if coloured is not None:
            yield violation("F3", coloured.text, f"black text, no highlight (colour {coloured.color}, "
                                          f"highlight {coloured.highlight}, shading {coloured.shading})")
        if unicodedata.normalize("NFC", p.text) != p.text:
            yield violation("F4", p.text, "precomposed Unicode (NFC)")


# --- body ------------------------------------------------------------------------------------------


def check_body(layout: Layout) -> Iterator[Violation]:
    prev: ParaFormat | None = None
    for p in layout.body:
        problems: list[str] = []
        if not size_in(p, 13, 14):
            problems.append(f"13–14 pt (found {pt(p.size)})")
        if p.any_bold or p.any_italic:
            problems.append("upright")
        if p.align != "both":
            problems.append(f"justified (found {p.align or 'left'})")
        if problems:
            yield violation("B1", p.flat, "body " + ", ".join(problems))
        if not any(abs(p.first_line - ok) <= 10 for ok in (567, 720)):
            yield violation("B2", p.flat, f"first-line indent 1 cm or 1.27 cm (found {p.first_line / MM / 10:.2f} cm)")
        yield from _check_line_spacing(p)
        if prev is not None:
            gap = _gap(layout.model.paragraphs, prev, p)
            if gap < 120:
                yield violation("B4", p.flat, f"at least 6 pt between body paragraphs (found {gap / 20:g} pt)")
        prev = p


def _spacing(a: ParaFormat, b: ParaFormat) -> int:
    """Space between two consecutive paragraphs (twips): a's after plus b's before, none when both ask
    for contextual spacing within one style."""
    if a.contextual and b.contextual and a.style_id == b.style_id:
        return 0
    return a.after + b.before


def _line_height(p: ParaFormat) -> float:
    """Height (twips) of an empty paragraph's one line; Word's single line of Times New Roman is about
    1.15 × the font size."""
    single = 1.15 * (p.mark_size or 10) * 20
    line = p.line if p.line is not None else 240
    if p.line_rule == "exact":
        return line
    if p.line_rule == "atLeast":
        return max(line, single)
    return single * line / 240


def _gap(paras: Sequence[ParaFormat], prev: ParaFormat, p: ParaFormat) -> float:
    """The white space the reader sees between two body paragraphs: their spacing, plus the empty
    paragraphs typed between them (each a blank line with its own spacing)."""
    between = paras[prev.index + 1: p.index]
    if not between or any(q.location.table is not None or q.flat for q in between):
        return _spacing(prev, p)
    chain = [prev, *between, p]
    return (sum(_spacing(a, b) for a, b in pairwise(chain))
            + sum(_line_height(q) for q in between))


def _check_line_spacing(p: ParaFormat) -> Iterator[Violation]:
    line = p.line if p.line is not None else 240
    if p.line_rule == "auto":
        if not 240 <= line <= 360:
            yield violation("B3", p.flat, f"line spacing single to 1.5 lines (found {line / 240:.2f})")
        return
    size = p.size or 14
    single = 1.15 * size * 20
    if not single * 0.97 <= line <= single * 1.5 * 1.03:
        yield violation("B3", p.flat, f"line spacing single to 1.5 lines (found {p.line_rule} {line / 20:g} pt)")


# --- signature -------------------------------------------------------------------------------------


def _prefix_ok(line: str) -> bool:
    """An authority prefix, if any, is exactly one of TM./KT./TL./TUQ./Q. ("KT CHỦ TỊCH" is not)."""
    first = line.split(" ", 1)[0]
    looks_like_prefix = first.endswith(".") or first.replace(".", "") in {p[:-1] for p in AUTHORITY_PREFIXES}
    return not looks_like_prefix or (first in AUTHORITY_PREFIXES and " " in line)


def signer_text_problems(titles: Sequence[str], name: str) -> list[Violation]:
    """S1–S3 as far as the words decide them (capitals, the authority prefix), for the signer lines a campaign
    configures: ``congvan validate`` finds "KT CHỦ TỊCH" before a letter is rendered, by the same rules."""
    found: list[Violation] = []
    for i, line in enumerate(titles):
        rule = "S1" if i == 0 else "S2"
        problems = _title_text_problems(line, first=i == 0)
        if problems:
            found.append(violation(rule, line,
                                   ("authority line " if rule == "S1" else "title line ") + ", ".join(problems)))
    if not has_lower(name):
        found.append(violation("S3", name, "signer's name not UPPER"))
    return found


def _title_text_problems(line: str, *, first: bool) -> list[str]:
    problems = []
    if has_lower(line):
        problems.append("UPPER")
    if first and not _prefix_ok(line):
        problems.append("prefix one of TM./KT./TL./TUQ./Q.")
    return problems


def check_signature(layout: Layout) -> Iterator[Violation]:
    lines = layout.signature
    if len(lines) < 2:
        yield violation("S1", " / ".join(p.flat for p in lines), "an authority/title line and the signer's name")
        return
    *titles, name = lines
    for i, p in enumerate(titles):
        rule = "S1" if i == 0 else "S2"
        text = _title_text_problems(p.flat, first=rule == "S1")
        problems = [t for t in text if t == "UPPER"]
        if not p.all_bold or p.any_italic:
            problems.append("bold, upright")
        if not size_in(p, 13, 14):
            problems.append(f"13–14 pt (found {pt(p.size)})")
        if not p.centred:
            problems.append("centred")
        problems += [t for t in text if t != "UPPER"]
        if problems:
            yield violation(rule, p.flat, ("authority line " if rule == "S1" else "title line ") + ", ".join(problems))
    problems = []
    if not has_lower(name.flat):
        problems.append("not UPPER")
    if name.any_italic:
        problems.append("not italic")
    if not name.all_bold:
        problems.append("bold")
    if not size_in(name, 13, 14):
        problems.append(f"13–14 pt (found {pt(name.size)})")
    if not name.centred:
        problems.append("centred")
    if problems:
        yield violation("S3", name.flat, "signer's name " + ", ".join(problems))


CHECKS: tuple[Callable[[Layout], Iterable[Violation]], ...] = (
    check_page, check_fonts, check_header, check_recipients, check_body, check_signature,
)


def check_model(model: DocumentModel, kind: DocumentKind = "cong_van") -> list[Violation]:
    if kind != "cong_van" and kind not in TYPE_NAMES:
        raise ValueError(f"unknown document kind {kind!r} (known: cong_van, {', '.join(TYPE_NAMES)})")
    layout = locate(model, kind)
    return [v for run in CHECKS for v in run(layout)]


def detect_kind(model: DocumentModel) -> DocumentKind:
    """A document whose first body line after the header names a type ("BÁO CÁO") is of that type;
    anything else is read as a công văn (which has no type name line)."""
    for kind, (name, _) in TYPE_NAMES.items():
        if any(p.flat.upper() == name for p in model.paragraphs if p.location.table is None):
            return kind  # type: ignore[return-value]
    return "cong_van"


class Checker:
    """Checks letters made from the same templates: what they share (styles, numbering, page setup,
    headers, and every paragraph identical byte for byte) is read once, then only what varies per letter.
    The verdicts are those of a full check of each letter: the rules run on the whole document every
    time, and a remembered paragraph is only ever reused for the very same XML. ``Checker(cache=False)``
    is the full check of each letter, kept for comparison (bench/bench_check.py, the tests)."""

    def __init__(self, *, cache: bool = True) -> None:
        self.cache = ReadCache() if cache else None

    def check(self, path: Path, kind: DocumentKind | None = "cong_van") -> list[Violation]:
        if not path.is_file():
            raise DocumentError(f"{path}: file not found")
        try:
            model = read_document(path, self.cache)
        except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:  # read with zipfile and lxml
            raise DocumentError(f"{path}: not a readable .docx ({type(exc).__name__})") from exc
        return check_model(model, kind or detect_kind(model))


_CHECKER = Checker()  # one per process: a campaign's letters come from a handful of templates


def check(path: Path, kind: DocumentKind | None = "cong_van") -> list[Violation]:
    """Every Decree-30 violation found in a công văn (or, with ``kind="bao_cao"``, a báo cáo) .docx,
    in document-area order. ``kind=None`` tells the kind from the document itself."""
    return _CHECKER.check(path, kind)
