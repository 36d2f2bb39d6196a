"""Decree 30/2020/NĐ-CP, Appendix I: machine checks for a công văn (.docx), profile "14".

``kind="bao_cao"`` checks a báo cáo instead: a named document, so the công văn-only rules give way (no
"V/v" line under Số: H14, H15; "Kính gửi" only if present: R1) to the named-document ones (type name and
bold summary centred under the header: H16; the type code "BC" leading the symbol: H9).

Rule ids, and what each asserts, are listed in docs/design.md §4.2. Each check returns ``Violation`` objects; ``check``
runs them all. The header block is the table holding the Quốc hiệu, read column by column (one cell per
block, or a grid with one row per line pair, read the same); the signature block is the table holding
"Nơi nhận:". Rules apply to what the reader sees: lines broken by ``w:br`` in a cell, indents from Word's
numbering, and the blank lines of empty paragraphs between body paragraphs (see ``formatting``).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Literal

from docx.opc.exceptions import OpcError
from lxml import etree

from congvan.errors import DocumentError
from congvan.nd30.formatting import ReadCache, read_document
from congvan.nd30.model import DocumentModel, ParaFormat, RunFormat, SectionInfo

TNR = "Times New Roman"
MM = 1440 / 25.4  # twips per millimetre
SNIPPET = 60


@dataclass(frozen=True)
class Violation:
    """One broken rule: its id (e.g. "H8"), the offending text (shortened) and what was expected."""

    rule: str
    text: str
    expected: str


def format_violation(v: Violation) -> str:
    """``H11: 'Đắk Lắk, ngày 05 tháng 03 năm 2023': expected month without leading zero (tháng 3)``."""
    return f"{v.rule}: {v.text!r}: expected {v.expected}"


def _snip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def _v(rule: str, text: str, expected: str) -> Violation:
    return Violation(rule, _snip(text), expected)


def _pt(size: float | None) -> str:
    return "mixed" if size is None else f"{size:g} pt"


def _size_in(p: ParaFormat, lo: float, hi: float) -> bool:
    return bool(p.inked) and all(r.size is not None and lo <= r.size <= hi for r in p.inked)


def _has_lower(text: str) -> bool:
    return any(c.islower() for c in text)


# --- locating the components ---------------------------------------------------------------------

QUOC_HIEU = re.compile(r"^CỘNG H(ÒA|OÀ) XÃ HỘI CHỦ NGHĨA VIỆT NAM$")
MOTTO = re.compile(r"^Độc lập - Tự do - Hạnh phúc$")
SO_LINE = re.compile(
    r"^Số: ?(?P<n>0[1-9]|[1-9]\d+|\s*)/(?P<sym>(?:QyĐ|CTr|TTr|TrS|[A-ZĐ][A-ZĐ0-9]*)(?:-[A-ZĐ][A-ZĐ0-9]*)+)$"
)
PLACE_DATE = re.compile(
    r"^(?P<place>[^,]+), ngày (?:(?P<d>\d{1,2})|\s*) tháng (?P<m>\d{1,2}) năm (?P<y>\d{4})$"
)
LUU = re.compile(r"^- ?Lưu: VT(, [^.]+)?\.$")
AUTHORITY_PREFIXES = ("TM.", "KT.", "TL.", "TUQ.", "Q.")

DocumentKind = Literal["cong_van", "bao_cao"]
# Named documents: the printed type name (5a) and its code in the symbol (Appendix III).
TYPE_NAMES: dict[str, tuple[str, str]] = {"bao_cao": ("BÁO CÁO", "BC")}


@dataclass(frozen=True)
class Layout:
    """The công văn's components, found by text and position."""

    model: DocumentModel
    quoc_hieu: ParaFormat | None
    motto: ParaFormat | None
    issuer: tuple[ParaFormat, ...]
    so: ParaFormat | None
    vv: ParaFormat | None
    place_date: ParaFormat | None
    kinh_gui: ParaFormat | None
    recipients: tuple[ParaFormat, ...]
    body: tuple[ParaFormat, ...]
    noi_nhan: ParaFormat | None
    noi_nhan_items: tuple[ParaFormat, ...]
    signature: tuple[ParaFormat, ...]
    kind: DocumentKind = "cong_van"
    type_name: ParaFormat | None = None  # named documents: "BÁO CÁO" under the header
    summary: tuple[ParaFormat, ...] = ()  # named documents: the centred lines under the type name


def _inked(paras: Iterable[ParaFormat]) -> list[ParaFormat]:
    return [p for p in paras if p.flat]


def locate(model: DocumentModel, kind: DocumentKind = "cong_van") -> Layout:
    paras = model.paragraphs
    qh = next((p for p in paras if QUOC_HIEU.match(p.flat)), None)
    head_table = qh.location.table if qh is not None else None
    if qh is None:  # fall back on the first table holding a Số line
        so_any = next((p for p in paras if p.location.table is not None and p.flat.startswith("Số")), None)
        head_table = so_any.location.table if so_any else None

    def cell(table: int | None, row: int, col: int) -> list[ParaFormat]:
        return _inked(p for p in paras if table is not None and p.location.table == table
                      and p.location.row == row and p.location.col == col)

    def column(table: int | None, col: int) -> list[ParaFormat]:
        """A header column read top to bottom across its rows (a grid with one row per line pair reads
        the same as one cell per block)."""
        return _inked(p for p in paras if table is not None and p.location.table == table
                      and p.location.col == col)

    head = [p for p in paras if head_table is not None and p.location.table == head_table]
    so = next((p for p in head if p.flat.startswith("Số")), None)
    motto = None
    issuer: list[ParaFormat] = []
    if qh is not None:
        after = [p for p in column(qh.location.table, qh.location.col) if p.index > qh.index]
        motto = after[0] if after else None
        top_row = max(qh.location.row, motto.location.row if motto is not None else 0)
        if so is not None and so.location.table == head_table:
            top_row = min(top_row, so.location.row)
        other = 1 - qh.location.col if qh.location.col < 2 else 0
        issuer = [p for p in column(head_table, other) if p.location.row <= top_row]
    if so is not None and so in issuer:
        issuer = issuer[: issuer.index(so)]
    # issuer lines: drop a leading non-bold parent line when a bold line follows
    if len(issuer) > 1 and not issuer[0].all_bold and any(p.all_bold for p in issuer[1:]):
        issuer = issuer[1:]
    vv = None
    if so is not None:
        rest = [p for p in column(so.location.table, so.location.col) if p.index > so.index]
        vv = next((p for p in rest if p.flat.upper().startswith("V/V")), None)
    place_date = next((p for p in head if re.search(r"\bngày\b.*\btháng\b", p.flat)), None)

    after_head = [p for p in paras if p.location.table is None and
                  (not head or p.index > head[-1].index)]
    kg = next((p for p in after_head if p.flat.upper().startswith("KÍNH GỬI")), None)
    recipients: list[ParaFormat] = []
    body_start = head[-1].index if head else -1
    type_name: ParaFormat | None = None
    summary: list[ParaFormat] = []
    if kind in TYPE_NAMES:  # the type name is the first line after the header; the summary lines follow, centred
        first_line = next((p for p in after_head if p.flat), None)
        if first_line is not None and first_line.flat.upper() == TYPE_NAMES[kind][0]:
            type_name = first_line
            for p in _inked(q for q in after_head if q.index > first_line.index):
                if not p.centred:
                    break
                summary.append(p)
            body_start = (summary[-1] if summary else type_name).index
    if kg is not None:
        body_start = kg.index
        several = kg.flat.endswith(":")  # one recipient sits on the "Kính gửi:" line itself
        for p in after_head:
            if p.index <= kg.index or not p.flat:
                continue
            if not several or not p.flat.startswith("-"):
                break
            recipients.append(p)
            body_start = p.index

    nn = next((p for p in paras if p.location.table is not None and
               p.flat.rstrip(":").strip().lower() == "nơi nhận"), None)
    nn_items: list[ParaFormat] = []
    signature: list[ParaFormat] = []
    sign_table = nn.location.table if nn is not None else None
    if nn is not None:
        nn_items = [p for p in cell(sign_table, nn.location.row, nn.location.col) if p.index > nn.index]
        signature = cell(sign_table, nn.location.row, nn.location.col + 1)
    sign_start = min((p.index for p in paras if sign_table is not None and p.location.table == sign_table),
                     default=len(paras))
    body = [p for p in paras if p.location.table is None and body_start < p.index < sign_start and p.flat
            and p.location.part == "body"]
    return Layout(model=model, quoc_hieu=qh, motto=motto, issuer=tuple(issuer), so=so, vv=vv,
                  place_date=place_date, kinh_gui=kg, recipients=tuple(recipients), body=tuple(body),
                  noi_nhan=nn, noi_nhan_items=tuple(nn_items), signature=tuple(signature),
                  kind=kind, type_name=type_name, summary=tuple(summary))


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
            yield _v("P1", found, why)
        if not (_in(s.top, 1134, 1417) and _in(s.bottom, 1134, 1417)):
            yield _v("P2", f"{label}: top {_mm(s.top)}, bottom {_mm(s.bottom)}", "top and bottom margins 20–25 mm")
        if not _in(s.left, 1701, 1984):
            yield _v("P3", f"{label}: left {_mm(s.left)}", "left margin 30–35 mm")
        if not _in(s.right, 850, 1134):
            yield _v("P4", f"{label}: right {_mm(s.right)}", "right margin 15–20 mm")
    yield from _check_page_numbers(layout.model.sections)


def _check_page_numbers(sections: Sequence[SectionInfo]) -> Iterator[Violation]:
    if not sections:
        return
    first = sections[0]
    default = first.header("default")
    if default is None or not default.has_page_field:
        yield _v("P6", "no PAGE field in the default header",
                 "a centred PAGE field in the header from page 2 (letters longer than one page)")
    else:
        for p in default.paragraphs:
            if p.flat and (not p.centred or not _size_in(p, 13, 14) or p.any_italic):
                yield _v("P6", f"page number {p.flat} ({_pt(p.size)}, align {p.align})",
                         "page number centred, 13–14 pt, upright")
    first_hdr = first.header("first")
    if default is not None and default.has_page_field and not first.title_page:
        yield _v("P7", "page number shown on page 1 (no titlePg)",
                 "no page number on page 1 (w:titlePg with an empty first-page header)")
    elif first.title_page and first_hdr is not None and first_hdr.has_page_field:
        yield _v("P7", "PAGE field in the first-page header", "no page number on page 1")
    if first.page_start is not None and first.page_start != 1:
        yield _v("P8", f"pgNumType start={first.page_start}", "page numbering starting at 1")
    if first.page_format not in (None, "decimal"):
        yield _v("P8", f"pgNumType fmt={first.page_format}", "Arabic page numbers (decimal)")


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
                yield _v("F5", other.flat, f"{part} at {want:g} pt to match Quốc hiệu at {qh.size:g} pt "
                                           f"(found {_pt(other.size)})")


def _paragraph_fonts(p: ParaFormat) -> Iterator[Violation]:
    inked = p.inked
    if inked:
        bad_face = next((r for r in inked if r.font_ascii != TNR or r.font_hansi != TNR), None)
        if bad_face is not None:
            yield _v("F1", bad_face.text, f"Times New Roman (found {bad_face.font_ascii}/{bad_face.font_hansi})")
        legacy = next((r for r in inked if any(LEGACY_FONT.match(f) for f in r.fonts)), None)
        if legacy is not None:
            yield _v("F2", legacy.text, f"a Unicode font, not the legacy {', '.join(sorted(set(legacy.fonts)))}")
        coloured = next((r for r in inked if (r.color or "auto").lower() not in ("auto", "000000")
                         or (r.highlight or "none").lower() != "none"
                         or (r.shading or "auto").lower() not in ("auto", "ffffff", "none")), None)
        if coloured is not None:
            yield _v("F3", coloured.text, f"black text, no highlight (colour {coloured.color}, "
                                          f"highlight {coloured.highlight}, shading {coloured.shading})")
        if unicodedata.normalize("NFC", p.text) != p.text:
            yield _v("F4", p.text, "precomposed Unicode (NFC)")


# --- header block ----------------------------------------------------------------------------------


def check_header(layout: Layout) -> Iterator[Violation]:
    qh, motto = layout.quoc_hieu, layout.motto
    if qh is None:
        yield _v("H1", "", "a 'CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM' line")
    else:
        if not (qh.all_bold and not qh.any_italic and _size_in(qh, 12, 13) and qh.centred):
            yield _v("H1", qh.flat, f"Quốc hiệu bold, upright, 12–13 pt, centred (found {_pt(qh.size)}, "
                                    f"bold={qh.all_bold}, italic={qh.any_italic}, align {qh.align})")
    if motto is None or not MOTTO.match(motto.flat):
        found = motto.flat if motto is not None else ""
        dash = " with ASCII ' - ' (no en/em dash)" if "–" in found or "—" in found else ""
        yield _v("H2", found, f"'Độc lập - Tự do - Hạnh phúc'{dash} under the Quốc hiệu")
    elif not (motto.all_bold and not motto.any_italic and _size_in(motto, 13, 14) and motto.centred):
        yield _v("H2", motto.flat, f"motto bold, upright, 13–14 pt, centred (found {_pt(motto.size)}, "
                                   f"bold={motto.all_bold})")
    if not layout.issuer:
        yield _v("H5", "", "the issuing body's name in the left header column")
    for p in layout.issuer:
        if _has_lower(p.flat) or not p.all_bold or p.any_italic or not _size_in(p, 12, 13) or not p.centred:
            yield _v("H5", p.flat, f"issuer name UPPER, bold, upright, 12–13 pt, centred (found {_pt(p.size)}, "
                                   f"bold={p.all_bold})")
    yield from _check_so(layout)
    yield from _check_place_date(layout)
    if layout.kind in TYPE_NAMES:
        yield from _check_type_name(layout)
        return
    yield from _check_vv(layout)
    for p in layout.model.paragraphs:
        if p.flat.upper() == "CÔNG VĂN":
            yield _v("H15", p.flat, "no type name on a công văn (only 'V/v …' under Số)")


def _check_type_name(layout: Layout) -> Iterator[Violation]:
    """H16 (type name and summary of a named document) and H9 (its type code leads the symbol)."""
    name, code = TYPE_NAMES[layout.kind]
    so = layout.so
    m = SO_LINE.match(so.display.strip()) if so is not None else None
    if so is not None and m is not None and m.group("sym").split("-")[0] != code:
        yield _v("H9", so.display.strip(), f"the symbol led by the type code '{code}-' (e.g. 'Số: 05/{code}-UBND')")
    tn = layout.type_name
    if tn is None:
        yield _v("H16", "", f"the type name '{name}' on the first line under the header")
        return
    if tn.flat != name or not tn.all_bold or tn.any_italic or not _size_in(tn, 13, 14) or not tn.centred:
        yield _v("H16", tn.flat, f"type name '{name}' UPPER, bold, upright, 13–14 pt, centred "
                                 f"(found {_pt(tn.size)}, bold={tn.all_bold}, align {tn.align})")
    if not layout.summary:
        yield _v("H16", tn.flat, "a summary (trích yếu) centred under the type name")
    for p in layout.summary:
        problems: list[str] = []
        if not p.all_bold or p.any_italic:
            problems.append("bold, upright")
        if not _size_in(p, 13, 14):
            problems.append(f"13–14 pt (found {_pt(p.size)})")
        if not _has_lower(p.flat):
            problems.append("not all capitals")
        if p.flat.upper().startswith("V/V"):
            problems.append("no 'V/v' (a công văn's)")
        if problems:
            yield _v("H16", p.flat, "summary " + ", ".join(problems))


def _check_so(layout: Layout) -> Iterator[Violation]:
    so = layout.so
    if so is None:
        yield _v("H8", "", "a 'Số: NN/ISSUER-UNIT' line in the header")
        return
    text = so.display.strip()
    if not SO_LINE.match(text):
        yield _v("H8", text, "'Số: NN/ISSUER-UNIT' (number 01–09 padded, or blank in a draft; symbol UPPER, "
                             "no spaces)")
    if not (_size_in(so, 13, 13) and not so.any_italic and not so.any_bold and so.centred):
        yield _v("H8", text, f"Số line 13 pt, upright, not bold, centred (found {_pt(so.size)}, "
                             f"align {so.align})")


def _check_place_date(layout: Layout) -> Iterator[Violation]:
    pd = layout.place_date
    if pd is None:
        yield _v("H11", "", "a 'Place, ngày DD tháng M năm YYYY' line in the header")
        return
    text = pd.display.strip()  # not collapsed: a draft's blank day is a run of spaces
    m = PLACE_DATE.match(text)
    if m is None:
        yield _v("H11", text, "'Place, ngày DD tháng M năm YYYY'")
    else:
        day_s, month_s, year = m.group("d"), m.group("m"), int(m.group("y"))
        month = int(month_s)
        if not 1 <= month <= 12:
            yield _v("H11", text, "a month 1–12")
        elif month >= 3 and month_s.startswith("0"):
            yield _v("H11", text, f"month without leading zero (tháng {month})")
        elif month <= 2 and len(month_s) != 2:
            yield _v("H11", text, f"months 1–2 with a leading zero (tháng {month:02d})")
        elif day_s is not None:
            day = int(day_s)
            if len(day_s) != 2:
                yield _v("H11", text, f"days 1–9 with a leading zero (ngày {day:02d})")
            else:
                try:
                    dt.date(year, month, day)
                except ValueError:
                    yield _v("H11", text, "a valid calendar date")
    if not (pd.all_italic and not pd.any_bold and _size_in(pd, 13, 14) and pd.centred):
        yield _v("H12", pd.flat, f"place/date italic, 13–14 pt, centred (found {_pt(pd.size)}, "
                                 f"italic={pd.all_italic}, align {pd.align})")
    so = layout.so
    if so is not None and (so.location.table, so.location.row) != (pd.location.table, pd.location.row):
        yield _v("H12", pd.flat, "place/date on the same row as the Số line")


def _check_vv(layout: Layout) -> Iterator[Violation]:
    vv, so = layout.vv, layout.so
    if vv is None:
        yield _v("H14", "", "a 'V/v …' summary under the Số line")
        return
    problems: list[str] = []
    if not vv.flat.startswith("V/v "):
        problems.append("'V/v ' without a colon")
    if not _size_in(vv, 12, 13):
        problems.append(f"12–13 pt (found {_pt(vv.size)})")
    if vv.any_bold or vv.any_italic:
        problems.append("upright, not bold")
    if not vv.centred:
        problems.append("centred")
    gap = vv.before + (so.after if so is not None else 0)
    if not 110 <= gap <= 130:
        problems.append(f"6 pt below the Số line (found {gap / 20:g} pt)")
    if problems:
        yield _v("H14", vv.flat, "V/v line: " + "; ".join(problems))


# --- recipients ------------------------------------------------------------------------------------


def check_recipients(layout: Layout) -> Iterator[Violation]:
    kg = layout.kinh_gui
    if kg is None:
        if layout.kind == "cong_van":  # a báo cáo has "Kính gửi" only when sent upward
            yield _v("R1", "", "a 'Kính gửi:' line between the header and the body")
    else:
        problems: list[str] = []
        if not kg.flat.startswith("Kính gửi:"):
            problems.append("'Kính gửi:' in normal case with a colon")
        if kg.any_bold or kg.any_italic:
            problems.append("upright, not bold")
        if not _size_in(kg, 13, 14):
            problems.append(f"13–14 pt (found {_pt(kg.size)})")
        if problems:
            yield _v("R1", kg.flat, ", ".join(problems))
        after_colon = kg.flat.split(":", 1)[1].strip() if ":" in kg.flat else ""
        if not after_colon:
            if not layout.recipients:
                yield _v("R2", kg.flat, "the recipient on the same line, or '- …;' lines below")
            for i, p in enumerate(layout.recipients):
                last = i == len(layout.recipients) - 1
                pattern = r"^- .+\.$" if last else r"^- .+;$"
                if not re.match(pattern, p.flat):
                    yield _v("R2", p.flat, "'- recipient.' (last line)" if last else "'- recipient;'")
    yield from _check_noi_nhan(layout)


def _check_noi_nhan(layout: Layout) -> Iterator[Violation]:
    nn = layout.noi_nhan
    if nn is None:
        yield _v("R4", "", "a 'Nơi nhận:' block left of the signature")
        return
    problems: list[str] = []
    if nn.flat != "Nơi nhận:":
        problems.append("exactly 'Nơi nhận:'")
    if not _size_in(nn, 12, 12):
        problems.append(f"12 pt (found {_pt(nn.size)})")
    if not (nn.all_bold and nn.all_italic):
        problems.append("bold italic")
    if nn.any_underline:
        problems.append("not underlined")
    if not nn.left_aligned or nn.left != 0:
        problems.append("flush left")
    if problems:
        yield _v("R4", nn.flat, "'Nơi nhận:' " + ", ".join(problems))
    items = layout.noi_nhan_items
    if not items:
        yield _v("R6", nn.flat, "recipient lines under 'Nơi nhận:'")
        return
    for i, p in enumerate(items):
        last = i == len(items) - 1
        problems = []
        if not _size_in(p, 11, 11):
            problems.append(f"11 pt (found {_pt(p.size)})")
        if p.any_bold or p.any_italic:
            problems.append("upright, not bold")
        if not p.flat.startswith("-"):
            problems.append("starting with '-'")
        if not last and not p.flat.endswith(";"):
            problems.append("ending with ';'")
        if problems:
            yield _v("R6", p.flat, "Nơi nhận item " + ", ".join(problems))
    if not LUU.match(items[-1].flat):
        yield _v("R7", items[-1].flat, "last item '- Lưu: VT, <unit>.'")


# --- body ------------------------------------------------------------------------------------------


def check_body(layout: Layout) -> Iterator[Violation]:
    prev: ParaFormat | None = None
    for p in layout.body:
        problems: list[str] = []
        if not _size_in(p, 13, 14):
            problems.append(f"13–14 pt (found {_pt(p.size)})")
        if p.any_bold or p.any_italic:
            problems.append("upright")
        if p.align != "both":
            problems.append(f"justified (found {p.align or 'left'})")
        if problems:
            yield _v("B1", p.flat, "body " + ", ".join(problems))
        if not any(abs(p.first_line - ok) <= 10 for ok in (567, 720)):
            yield _v("B2", p.flat, f"first-line indent 1 cm or 1.27 cm (found {p.first_line / MM / 10:.2f} cm)")
        yield from _check_line_spacing(p)
        if prev is not None:
            gap = _gap(layout.model.paragraphs, prev, p)
            if gap < 120:
                yield _v("B4", p.flat, f"at least 6 pt between body paragraphs (found {gap / 20:g} pt)")
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
            yield _v("B3", p.flat, f"line spacing single to 1.5 lines (found {line / 240:.2f})")
        return
    size = p.size or 14
    single = 1.15 * size * 20
    if not single * 0.97 <= line <= single * 1.5 * 1.03:
        yield _v("B3", p.flat, f"line spacing single to 1.5 lines (found {p.line_rule} {line / 20:g} pt)")


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
            found.append(_v(rule, line, ("authority line " if rule == "S1" else "title line ") + ", ".join(problems)))
    if not _has_lower(name):
        found.append(_v("S3", name, "signer's name not UPPER"))
    return found


def _title_text_problems(line: str, *, first: bool) -> list[str]:
    problems = []
    if _has_lower(line):
        problems.append("UPPER")
    if first and not _prefix_ok(line):
        problems.append("prefix one of TM./KT./TL./TUQ./Q.")
    return problems


def check_signature(layout: Layout) -> Iterator[Violation]:
    lines = layout.signature
    if len(lines) < 2:
        yield _v("S1", " / ".join(p.flat for p in lines), "an authority/title line and the signer's name")
        return
    *titles, name = lines
    for i, p in enumerate(titles):
        rule = "S1" if i == 0 else "S2"
        text = _title_text_problems(p.flat, first=rule == "S1")
        problems = [t for t in text if t == "UPPER"]
        if not p.all_bold or p.any_italic:
            problems.append("bold, upright")
        if not _size_in(p, 13, 14):
            problems.append(f"13–14 pt (found {_pt(p.size)})")
        if not p.centred:
            problems.append("centred")
        problems += [t for t in text if t != "UPPER"]
        if problems:
            yield _v(rule, p.flat, ("authority line " if rule == "S1" else "title line ") + ", ".join(problems))
    problems = []
    if not _has_lower(name.flat):
        problems.append("not UPPER")
    if name.any_italic:
        problems.append("not italic")
    if not name.all_bold:
        problems.append("bold")
    if not _size_in(name, 13, 14):
        problems.append(f"13–14 pt (found {_pt(name.size)})")
    if not name.centred:
        problems.append("centred")
    if problems:
        yield _v("S3", name.flat, "signer's name " + ", ".join(problems))


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
        except (OpcError, zipfile.BadZipFile, KeyError, etree.XMLSyntaxError) as exc:
            raise DocumentError(f"{path}: not a readable .docx ({type(exc).__name__})") from exc
        return check_model(model, kind or detect_kind(model))


_CHECKER = Checker()  # one per process: a campaign's letters come from a handful of templates


def check(path: Path, kind: DocumentKind | None = "cong_van") -> list[Violation]:
    """Every Decree-30 violation found in a công văn (or, with ``kind="bao_cao"``, a báo cáo) .docx,
    in document-area order. ``kind=None`` tells the kind from the document itself."""
    return _CHECKER.check(path, kind)
