"""Builds templates/bao_cao.docx, the Decree-30 báo cáo (report) template (profile "14").

Same page, header and signature blocks as cong_van.docx (the helpers come from make_cong_van.py), but a
named document: no "V/v" under Số; instead the type name "BÁO CÁO" and the bold summary centred under
the header, with a short rule below. The body carries the compliance table (one row per unit, header row
repeated on every page) and a paragraph holding CHART_MARKER, which congvan.report replaces with the
chart picture after rendering.  Rebuild:  python templates/make_bao_cao.py
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from make_cong_van import (
    BOTTOM,
    CELL_PAD,
    HEADER_LEFT,
    HEADER_RIGHT,
    ISSUER_RULE,
    LEFT,
    MOTTO_WIDTH,
    RIGHT,
    TOP,
    HeaderStyles,
    finish,
    header_block,
    page_number_header,
    para,
    pin_fonts,
    rule_style,
    set_doc_defaults,
    sign_block,
    style,
)

OUT = Path(__file__).with_name("bao_cao.docx")
CHART_MARKER = "[BIỂU ĐỒ]"  # congvan.report.CHART_MARKER must say the same
TEXT_WIDTH = Mm(165)  # A4 210 mm minus the 30 + 15 mm margins
SUMMARY_RULE = Mm(50)  # about 1/3 of a one-line summary
# STT | Đơn vị | Số phải trả lời | Đã trả lời | Tỷ lệ (%) | Chưa trả lời
COLUMNS = (
    ("STT", Mm(14)), ("Đơn vị", Mm(63)), ("Số phải trả lời", Mm(22)),
    ("Đã trả lời", Mm(22)), ("Tỷ lệ (%)", Mm(20)), ("Chưa trả lời", Mm(24)),
)
ROW_FIELDS = ("stt", "ten", "phai", "da", "ty_le", "chua")


def grid(table: object, widths: tuple[Mm, ...]) -> None:
    """Single 0.5 pt borders on every edge, fixed column widths, centred on the page."""
    tbl = table._tbl  # type: ignore[attr-defined]
    table.autofit = False  # type: ignore[attr-defined]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER  # type: ignore[attr-defined]
    tblpr = tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        for key, val in (("val", "single"), ("sz", "4"), ("space", "0"), ("color", "000000")):
            el.set(qn(f"w:{key}"), val)
        borders.append(el)
    layout = tblpr.find(qn("w:tblLayout"))
    anchor = layout if layout is not None else tblpr.find(qn("w:tblLook"))
    if anchor is not None:
        anchor.addprevious(borders)
    else:
        tblpr.append(borders)
    tblw = tblpr.find(qn("w:tblW"))
    tblw.set(qn("w:w"), str(int(sum(w.twips for w in widths))))
    tblw.set(qn("w:type"), "dxa")
    for i, col in enumerate(table.columns):  # type: ignore[attr-defined]
        col.width = widths[i]
        for cell in col.cells:
            cell.width = widths[i]


def row_flags(row: object, *, header: bool = False) -> None:
    """Rows never split across pages; the header row repeats at the top of each page."""
    trpr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    trpr.append(OxmlElement("w:cantSplit"))
    if header:
        trpr.append(OxmlElement("w:tblHeader"))


def middle(row: object) -> None:
    for cell in row.cells:  # type: ignore[attr-defined]
        valign = OxmlElement("w:vAlign")
        valign.set(qn("w:val"), "center")
        cell._tc.get_or_add_tcPr().append(valign)


def build(out: Path = OUT) -> None:
    doc = Document()
    set_doc_defaults(doc)
    normal = doc.styles["Normal"]
    pin_fonts(normal.element, 14)
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.line_spacing = 1.0

    sec = doc.sections[0]
    sec.start_type = WD_SECTION.NEW_PAGE
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin = TOP, BOTTOM, LEFT, RIGHT
    sec.header_distance, sec.footer_distance = Mm(10), Mm(10)
    sec.gutter = Mm(0)

    center, justify = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY
    s_parent = style(doc, "BC Cơ quan chủ quản", size=13, align=center)
    s_issuer = style(doc, "BC Cơ quan ban hành", size=13, bold=True, align=center)
    s_nation = style(doc, "BC Quốc hiệu", size=13, bold=True, align=center)
    s_motto = style(doc, "BC Tiêu ngữ", size=14, bold=True, align=center)
    s_issuer_rule = rule_style(doc, "BC Gạch dưới cơ quan", (HEADER_LEFT - 2 * CELL_PAD - ISSUER_RULE) // 2)
    s_motto_rule = rule_style(doc, "BC Gạch dưới tiêu ngữ", (HEADER_RIGHT - 2 * CELL_PAD - MOTTO_WIDTH) // 2)
    s_number = style(doc, "BC Số ký hiệu", size=13, align=center, before=6)
    s_date = style(doc, "BC Địa danh ngày tháng", size=14, italic=True, align=center, before=6)
    s_type = style(doc, "BC Tên loại", size=14, bold=True, align=center, before=18, keep_next=True)
    s_summary = style(doc, "BC Trích yếu", size=14, bold=True, align=center, keep_next=True)
    s_summary_rule = rule_style(doc, "BC Gạch dưới trích yếu", (TEXT_WIDTH - SUMMARY_RULE) // 2)
    s_summary_rule.paragraph_format.space_after = Pt(12)
    s_body = style(doc, "BC Nội dung", size=14, align=justify, before=6, first_line=Mm(12.7))
    # The paragraph introducing the table stays on the page of the table's first rows.
    s_lead = style(doc, "BC Nội dung dẫn bảng", size=14, align=justify, before=6, after=6, first_line=Mm(12.7),
                   keep_next=True)
    s_lead.base_style = s_body
    s_body_last = style(doc, "BC Nội dung cuối", size=14, align=justify, before=6, first_line=Mm(12.7),
                        keep_next=True)
    s_body_last.base_style = s_body
    s_head_cell = style(doc, "BC Bảng tiêu đề", size=13, bold=True, align=center, before=3, after=3)
    s_cell = style(doc, "BC Bảng ô", size=13, before=3, after=3)
    s_cell_num = style(doc, "BC Bảng số", size=13, align=center, before=3, after=3)
    s_total = style(doc, "BC Bảng tổng", size=13, bold=True, align=center, before=3, after=3)
    s_chart = style(doc, "BC Biểu đồ", size=14, align=center, before=12, after=6)
    s_nn = style(doc, "BC Nơi nhận", size=12, bold=True, italic=True, before=6, keep_next=True)
    s_nn_item = style(doc, "BC Nơi nhận dòng", size=11)
    s_sign = style(doc, "BC Thẩm quyền ký", size=14, bold=True, align=center, keep_next=True)
    s_name = style(doc, "BC Họ tên người ký", size=14, bold=True, align=center, before=72)
    s_page = style(doc, "BC Số trang", size=14, align=center)
    s_tag = style(doc, "BC Lệnh mẫu", size=14)   # paragraphs holding only {%p %} tags; docxtpl removes them

    page_number_header(doc, s_page)

    # Header block as in the công văn, without the V/v line: a báo cáo's summary goes under its type name.
    header_block(doc, HeaderStyles(s_tag, s_parent, s_issuer, s_issuer_rule, s_nation, s_motto, s_motto_rule,
                                   s_number, s_date), summary=None)

    para(doc, "BÁO CÁO", s_type)
    para(doc, "{%p for dong in trich_yeu %}", s_tag)
    para(doc, "{{ dong }}", s_summary)
    para(doc, "{%p endfor %}", s_tag)
    para(doc, "", s_summary_rule)

    para(doc, "{%p for doan in noi_dung %}", s_tag)
    para(doc, "{{ doan }}", s_body)
    para(doc, "{%p endfor %}", s_tag)
    para(doc, "{{ dan_bang }}", s_lead)

    # Compliance by unit: header row, one templated row per unit ({%tr %} rows vanish), the total.
    widths = tuple(w for _, w in COLUMNS)
    table = doc.add_table(rows=4, cols=len(COLUMNS))
    grid(table, widths)
    header, loop_open, data, loop_close = table.rows
    for cell, (title, _) in zip(header.cells, COLUMNS, strict=True):
        para(cell, title, s_head_cell, first=True)
    row_flags(header, header=True)
    middle(header)
    para(loop_open.cells[0], "{%tr for dong in don_vi %}", s_cell, first=True)
    for i, (cell, field) in enumerate(zip(data.cells, ROW_FIELDS, strict=True)):
        para(cell, f"{{{{ dong.{field} }}}}", s_cell if i == 1 else s_cell_num, first=True)
    row_flags(data)
    middle(data)
    para(loop_close.cells[0], "{%tr endfor %}", s_cell, first=True)
    total = table.add_row()
    first = total.cells[0].merge(total.cells[1])
    para(first, "Tổng cộng", s_total, first=True)
    for cell, field in zip(total.cells[2:], ROW_FIELDS[2:], strict=True):
        para(cell, f"{{{{ tong.{field} }}}}", s_total, first=True)
    row_flags(total)
    middle(total)

    para(doc, CHART_MARKER, s_chart)

    # The last paragraph keeps with the signature table, so the signature never stands alone on a page.
    para(doc, "{%p for doan in ket_luan[:-1] %}", s_tag)
    para(doc, "{{ doan }}", s_body)
    para(doc, "{%p endfor %}", s_tag)
    para(doc, "{{ ket_luan[-1] }}", s_body_last)

    sign_block(doc, tag=s_tag, nn=s_nn, nn_item=s_nn_item, sign=s_sign, name=s_name)
    finish(doc)
    doc.save(out)


if __name__ == "__main__":
    build()
    print(OUT)
