"""The Decree-30 rules of the top of a letter: the header block (issuer, Quốc hiệu, Số, place and date, V/v;
a named document's type name and summary) and the recipients ("Kính gửi", "Nơi nhận"). Rule ids: docs/design.md §4.2.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

from congvan.nd30.layout import LUU, MOTTO, PLACE_DATE, SO_LINE, TYPE_NAMES, Layout
from congvan.nd30.violation import Violation, has_lower, pt, size_in, violation


def check_header(layout: Layout) -> Iterator[Violation]:
    qh, motto = layout.quoc_hieu, layout.motto
    if qh is None:
        yield violation("H1", "", "a 'CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM' line")
    else:
        if not (qh.all_bold and not qh.any_italic and size_in(qh, 12, 13) and qh.centred):
            yield violation("H1", qh.flat, f"Quốc hiệu bold, upright, 12–13 pt, centred (found {pt(qh.size)}, "
                                    f"bold={qh.all_bold}, italic={qh.any_italic}, align {qh.align})")
    if motto is None or not MOTTO.match(motto.flat):
        found = motto.flat if motto is not None else ""
        dash = " with ASCII ' - ' (no en/em dash)" if "–" in found or "—" in found else ""
        yield violation("H2", found, f"'Độc lập - Tự do - Hạnh phúc'{dash} under the Quốc hiệu")
    elif not (motto.all_bold and not motto.any_italic and size_in(motto, 13, 14) and motto.centred):
        yield violation("H2", motto.flat, f"motto bold, upright, 13–14 pt, centred (found {pt(motto.size)}, "
                                   f"bold={motto.all_bold})")
    if not layout.issuer:
        yield violation("H5", "", "the issuing body's name in the left header column")
    for p in layout.issuer:
        if has_lower(p.flat) or not p.all_bold or p.any_italic or not size_in(p, 12, 13) or not p.centred:
            yield violation("H5", p.flat, f"issuer name UPPER, bold, upright, 12–13 pt, centred (found {pt(p.size)}, "
                                   f"bold={p.all_bold})")
    yield from _check_so(layout)
    yield from _check_place_date(layout)
    if layout.kind in TYPE_NAMES:
        yield from _check_type_name(layout)
        return
    yield from _check_vv(layout)
    for p in layout.model.paragraphs:
        if p.flat.upper() == "CÔNG VĂN":
            yield violation("H15", p.flat, "no type name on a công văn (only 'V/v …' under Số)")


def _check_type_name(layout: Layout) -> Iterator[Violation]:
    """H16 (type name and summary of a named document) and H9 (its type code leads the symbol)."""
    name, code = TYPE_NAMES[layout.kind]
    so = layout.so
    m = SO_LINE.match(so.display.strip()) if so is not None else None
    if so is not None and m is not None and m.group("sym").split("-")[0] != code:
        yield violation("H9", so.display.strip(),
                        f"the symbol led by the type code '{code}-' (e.g. 'Số: 05/{code}-UBND')")
    tn = layout.type_name
    if tn is None:
        yield violation("H16", "", f"the type name '{name}' on the first line under the header")
        return
    if tn.flat != name or not tn.all_bold or tn.any_italic or not size_in(tn, 13, 14) or not tn.centred:
        yield violation("H16", tn.flat, f"type name '{name}' UPPER, bold, upright, 13–14 pt, centred "
                                 f"(found {pt(tn.size)}, bold={tn.all_bold}, align {tn.align})")
    if not layout.summary:
        yield violation("H16", tn.flat, "a summary (trích yếu) centred under the type name")
    for p in layout.summary:
        problems: list[str] = []
        if not p.all_bold or p.any_italic:
            problems.append("bold, upright")
        if not size_in(p, 13, 14):
            problems.append(f"13–14 pt (found {pt(p.size)})")
        if not has_lower(p.flat):
            problems.append("not all capitals")
        if p.flat.upper().startswith("V/V"):
            problems.append("no 'V/v' (a công văn's)")
        if problems:
            yield violation("H16", p.flat, "summary " + ", ".join(problems))


def _check_so(layout: Layout) -> Iterator[Violation]:
    so = layout.so
    if so is None:
        yield violation("H8", "", "a 'Số: NN/ISSUER-UNIT' line in the header")
        return
    text = so.display.strip()
    if not SO_LINE.match(text):
        yield violation("H8", text, "'Số: NN/ISSUER-UNIT' (number 01–09 padded, or blank in a draft; symbol UPPER, "
                             "no spaces)")
    if not (size_in(so, 13, 13) and not so.any_italic and not so.any_bold and so.centred):
        yield violation("H8", text, f"Số line 13 pt, upright, not bold, centred (found {pt(so.size)}, "
                             f"align {so.align})")


def _check_place_date(layout: Layout) -> Iterator[Violation]:
    pd = layout.place_date
    if pd is None:
        yield violation("H11", "", "a 'Place, ngày DD tháng M năm YYYY' line in the header")
        return
    text = pd.display.strip()  # not collapsed: a draft's blank day is a run of spaces
    m = PLACE_DATE.match(text)
    if m is None:
        yield violation("H11", text, "'Place, ngày DD tháng M năm YYYY'")
    else:
        day_s, month_s, year = m.group("d"), m.group("m"), int(m.group("y"))
        month = int(month_s)
        if not 1 <= month <= 12:
            yield violation("H11", text, "a month 1–12")
        elif month >= 3 and month_s.startswith("0"):
            yield violation("H11", text, f"month without leading zero (tháng {month})")
        elif month <= 2 and len(month_s) != 2:
            yield violation("H11", text, f"months 1–2 with a leading zero (tháng {month:02d})")
        elif day_s is not None:
            day = int(day_s)
            if len(day_s) != 2:
                yield violation("H11", text, f"days 1–9 with a leading zero (ngày {day:02d})")
            else:
                try:
                    dt.date(year, month, day)
                except ValueError:
                    yield violation("H11", text, "a valid calendar date")
    if not (pd.all_italic and not pd.any_bold and size_in(pd, 13, 14) and pd.centred):
        yield violation("H12", pd.flat, f"place/date italic, 13–14 pt, centred (found {pt(pd.size)}, "
                                 f"italic={pd.all_italic}, align {pd.align})")
    so = layout.so
    if so is not None and (so.location.table, so.location.row) != (pd.location.table, pd.location.row):
        yield violation("H12", pd.flat, "place/date on the same row as the Số line")


def _check_vv(layout: Layout) -> Iterator[Violation]:
    vv, so = layout.vv, layout.so
    if vv is None:
        yield violation("H14", "", "a 'V/v …' summary under the Số line")
        return
    problems: list[str] = []
    if not vv.flat.startswith("V/v "):
        problems.append("'V/v ' without a colon")
    if not size_in(vv, 12, 13):
        problems.append(f"12–13 pt (found {pt(vv.size)})")
    if vv.any_bold or vv.any_italic:
        problems.append("upright, not bold")
    if not vv.centred:
        problems.append("centred")
    gap = vv.before + (so.after if so is not None else 0)
    if not 110 <= gap <= 130:
        problems.append(f"6 pt below the Số line (found {gap / 20:g} pt)")
    if problems:
        yield violation("H14", vv.flat, "V/v line: " + "; ".join(problems))


# --- recipients ------------------------------------------------------------------------------------


def check_recipients(layout: Layout) -> Iterator[Violation]:
    kg = layout.kinh_gui
    if kg is None:
        if layout.kind == "cong_van":  # a báo cáo has "Kính gửi" only when sent upward
            yield violation("R1", "", "a 'Kính gửi:' line between the header and the body")
    else:
        problems: list[str] = []
        if not kg.flat.startswith("Kính gửi:"):
            problems.append("'Kính gửi:' in normal case with a colon")
        if kg.any_bold or kg.any_italic:
            problems.append("upright, not bold")
        if not size_in(kg, 13, 14):
            problems.append(f"13–14 pt (found {pt(kg.size)})")
        if problems:
            yield violation("R1", kg.flat, ", ".join(problems))
        after_colon = kg.flat.split(":", 1)[1].strip() if ":" in kg.flat else ""
        if not after_colon:
            if not layout.recipients:
                yield violation("R2", kg.flat, "the recipient on the same line, or '- …;' lines below")
            for i, p in enumerate(layout.recipients):
                last = i == len(layout.recipients) - 1
                pattern = r"^- .+\.$" if last else r"^- .+;$"
                if not re.match(pattern, p.flat):
                    yield violation("R2", p.flat, "'- recipient.' (last line)" if last else "'- recipient;'")
    yield from _check_noi_nhan(layout)


def _check_noi_nhan(layout: Layout) -> Iterator[Violation]:
    nn = layout.noi_nhan
    if nn is None:
        yield violation("R4", "", "a 'Nơi nhận:' block left of the signature")
        return
    problems: list[str] = []
    if nn.flat != "Nơi nhận:":
        problems.append("exactly 'Nơi nhận:'")
    if not size_in(nn, 12, 12):
        problems.append(f"12 pt (found {pt(nn.size)})")
    if not (nn.all_bold and nn.all_italic):
        problems.append("bold italic")
    if nn.any_underline:
        problems.append("not underlined")
    if not nn.left_aligned or nn.left != 0:
        problems.append("flush left")
    if problems:
        yield violation("R4", nn.flat, "'Nơi nhận:' " + ", ".join(problems))
    items = layout.noi_nhan_items
    if not items:
        yield violation("R6", nn.flat, "recipient lines under 'Nơi nhận:'")
        return
    for i, p in enumerate(items):
        last = i == len(items) - 1
        problems = []
        if not size_in(p, 11, 11):
            problems.append(f"11 pt (found {pt(p.size)})")
        if p.any_bold or p.any_italic:
            problems.append("upright, not bold")
        if not p.flat.startswith("-"):
            problems.append("starting with '-'")
        if not last and not p.flat.endswith(";"):
            problems.append("ending with ';'")
        if problems:
            yield violation("R6", p.flat, "Nơi nhận item " + ", ".join(problems))
    if not LUU.match(items[-1].flat):
        yield violation("R7", items[-1].flat, "last item '- Lưu: VT, <unit>.'")
