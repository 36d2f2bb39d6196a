"""Builds the Decree-30 công văn templates (profile "14"): templates/cong_van.docx (the dispatch), and
the follow-up letters cong_van_don_doc.docx (urging a head) and cong_van_giai_trinh.docx (requiring a
head to explain), which list the officials who have not answered in a table.

The .docx files are the artefacts coordinators edit in Word (the letters' wording is in them, with
fields such as {{ han_moi }}); this script records how they were made and rebuilds them after a
layout change:  python templates/make_cong_van.py
Widths were measured with Liberation Serif (metric-compatible with Times New Roman).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.styles.style import ParagraphStyle
from docx.table import _Cell
from docx.text.paragraph import Paragraph

FONT = "Times New Roman"
OUT = Path(__file__).with_name("cong_van.docx")

# Page (A4; margins inside Decree 30's ranges) and the two-column blocks.
TOP, BOTTOM, LEFT, RIGHT = Mm(20), Mm(20), Mm(30), Mm(15)
HEADER_LEFT, HEADER_RIGHT = Mm(65), Mm(100)   # issuer | national title (95 mm at 13 pt bold)
SIGN_LEFT, SIGN_RIGHT = Mm(85), Mm(80)        # Nơi nhận | signature
CELL_PAD = Mm(1.9)
MOTTO_WIDTH = Mm(60.4)                         # "Độc lập - Tự do - Hạnh phúc", 14 pt bold
ISSUER_RULE = Mm(18)                           # 1/3–1/2 of "ỦY BAN NHÂN DÂN" (43 mm)
KINH_GUI_AT = Mm(45)                           # where "Kính gửi:" starts
KINH_GUI_COLON = Mm(17.9)                      # width of "Kính gửi" (the colon starts here)
KINH_GUI_WORD = Mm(20.2)                       # width of "Kính gửi: "


def pin_fonts(rpr_owner: object, size_pt: float | None = None) -> None:
    """Times New Roman in all four font slots (theme attributes removed), size in sz and szCs."""
    rpr = rpr_owner.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), FONT)
    if size_pt is not None:
        for tag in ("w:sz", "w:szCs"):
            el = rpr.find(qn(tag))
            if el is None:
                el = OxmlElement(tag)
                rpr.append(el)
            el.set(qn("w:val"), str(int(size_pt * 2)))


def set_doc_defaults(doc: Document) -> None:
    styles = doc.styles.element
    rpr = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    for child in list(rpr):
        if child.tag in (qn("w:rFonts"), qn("w:sz"), qn("w:szCs"), qn("w:lang")):
            rpr.remove(child)
    fonts = OxmlElement("w:rFonts")
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), FONT)
    rpr.insert(0, fonts)
    for tag in ("w:sz", "w:szCs"):
        el = OxmlElement(tag)
        el.set(qn("w:val"), "28")
        rpr.append(el)
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "vi-VN")
    lang.set(qn("w:eastAsia"), "en-US")
    rpr.append(lang)


def style(doc: Document, name: str, *, size: float, bold: bool = False, italic: bool = False,
          align: WD_ALIGN_PARAGRAPH = WD_ALIGN_PARAGRAPH.LEFT, before: float = 0, after: float = 0,
          first_line: Mm | None = None, left: Mm | None = None, right: Mm | None = None,
          hanging: Mm | None = None, keep_next: bool = False) -> ParagraphStyle:
    st = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    st.base_style = doc.styles["Normal"]
    st.quick_style = True
    st.font.bold = bold
    st.font.italic = italic
    pin_fonts(st.element, size)
    pf = st.paragraph_format
    pf.alignment = align
    pf.space_before = Pt(before)
    pf.space_after = Pt(after)
    pf.line_spacing = 1.0
    pf.widow_control = True
    pf.keep_with_next = keep_next
    if first_line is not None:
        pf.first_line_indent = first_line
    if hanging is not None:
        pf.first_line_indent = -hanging
    if left is not None:
        pf.left_indent = left
    if right is not None:
        pf.right_indent = right
    return st


def rule_style(doc: Document, name: str, side_indent: Mm) -> ParagraphStyle:
    """A 1 pt empty paragraph whose bottom border draws the short line under a heading."""
    st = style(doc, name, size=1, align=WD_ALIGN_PARAGRAPH.CENTER, left=side_indent, right=side_indent)
    ppr = st.element.get_or_add_pPr()
    bdr = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, val in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "000000")):
        bottom.set(qn(f"w:{key}"), val)
    bdr.append(bottom)
    # pBdr precedes spacing/ind/jc in the schema; Word rejects it out of order.
    ppr.insert(0, bdr) if ppr.find(qn("w:pStyle")) is None else ppr.insert(1, bdr)
    spacing = ppr.find(qn("w:spacing"))
    spacing.set(qn("w:line"), "20")
    spacing.set(qn("w:lineRule"), "exact")
    return st


def borderless(table: object, widths: tuple[Mm, Mm]) -> None:
    tbl = table._tbl  # type: ignore[attr-defined]
    table.autofit = False  # type: ignore[attr-defined]
    tblpr = tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    layout = tblpr.find(qn("w:tblLayout"))
    anchor = layout if layout is not None else tblpr.find(qn("w:tblLook"))
    if anchor is not None:
        anchor.addprevious(borders)
    else:
        tblpr.append(borders)
    tblw = tblpr.find(qn("w:tblW"))
    if tblw is None:
        tblw = OxmlElement("w:tblW")
        tblpr.append(tblw)
    tblw.set(qn("w:w"), str(int(sum(w.twips for w in widths))))
    tblw.set(qn("w:type"), "dxa")
    for i, col in enumerate(table.columns):  # type: ignore[attr-defined]
        col.width = widths[i]
        for cell in col.cells:
            cell.width = widths[i]


def para(where: Document | _Cell, text: str, st: ParagraphStyle, *, first: bool = False) -> Paragraph:
    if first and isinstance(where, _Cell):
        p = where.paragraphs[0]
        p.style = st
        if text:
            p.add_run(text)
        return p
    return where.add_paragraph(text, style=st)


def page_number_header(doc: Document, st: ParagraphStyle) -> None:
    section = doc.sections[0]
    section.different_first_page_header_footer = True  # no number on page 1
    section.first_page_header.paragraphs[0].text = ""
    p = section.header.paragraphs[0]
    p.style = st
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), " PAGE ")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    p._p.append(field)


def drop_legacy_parts(doc: Document) -> None:
    """python-docx's default package carries a thumbnail of *its* blank page (file managers would show
    it as the preview) and Word 2010's stylesWithEffects.xml (438 kB nobody reads); drop both."""
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            doc.part.drop_rel(rid)
    package_rels = doc.part.package.rels
    for rid, rel in list(package_rels.items()):
        if rel.reltype.endswith("/thumbnail"):
            package_rels.pop(rid)


@dataclass(frozen=True)
class HeaderStyles:
    tag: ParagraphStyle
    parent: ParagraphStyle
    issuer: ParagraphStyle
    issuer_rule: ParagraphStyle
    nation: ParagraphStyle
    motto: ParagraphStyle
    motto_rule: ParagraphStyle
    number: ParagraphStyle
    date: ParagraphStyle


def header_block(doc: Document, st: HeaderStyles, *, summary: ParagraphStyle | None) -> None:
    """Issuer | national title and motto; then "Số: …" (and "V/v …" for a công văn) | place and date."""
    head = doc.add_table(rows=2, cols=2)
    borderless(head, (HEADER_LEFT, HEADER_RIGHT))
    left, right = head.cell(0, 0), head.cell(0, 1)
    para(left, "{%p if co_quan_chu_quan %}", st.tag, first=True)
    para(left, "{{ co_quan_chu_quan }}", st.parent)
    para(left, "{%p endif %}", st.tag)
    para(left, "{%p for dong in co_quan_ban_hanh %}", st.tag)
    para(left, "{{ dong }}", st.issuer)
    para(left, "{%p endfor %}", st.tag)
    para(left, "", st.issuer_rule)
    para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", st.nation, first=True)
    para(right, "Độc lập - Tự do - Hạnh phúc", st.motto)
    para(right, "", st.motto_rule)
    left, right = head.cell(1, 0), head.cell(1, 1)
    para(left, "Số: {{ so }}/{{ ky_hieu }}", st.number, first=True)
    if summary is not None:
        para(left, "V/v {{ trich_yeu }}", summary)
    para(right, "{{ dia_danh }}, {{ ngay_thang }}", st.date, first=True)


def sign_block(doc: Document, *, tag: ParagraphStyle, nn: ParagraphStyle, nn_item: ParagraphStyle,
               sign: ParagraphStyle, name: ParagraphStyle) -> None:
    """Nơi nhận | signature, on one row so "Nơi nhận:" is level with the authority line; then the tail."""
    table = doc.add_table(rows=1, cols=2)
    borderless(table, (SIGN_LEFT, SIGN_RIGHT))
    left, right = table.cell(0, 0), table.cell(0, 1)
    trpr = table.rows[0]._tr.get_or_add_trPr()
    trpr.append(OxmlElement("w:cantSplit"))  # the signature block stays on one page
    para(left, "Nơi nhận:", nn, first=True)
    para(left, "{%p for noi in noi_nhan %}", tag)
    para(left, "- {{ noi }};", nn_item)
    para(left, "{%p endfor %}", tag)
    para(left, "- Lưu: {{ luu }}.", nn_item)
    para(right, "{%p for dong in tham_quyen %}", tag, first=True)
    para(right, "{{ dong }}", sign)
    para(right, "{%p endfor %}", tag)
    para(right, "{{ nguoi_ky }}", name)
    # The top padding of the signature cell matches "Nơi nhận:" (both have 6 pt before).
    right.paragraphs[1].paragraph_format.space_before = Pt(6)
    # The body's last element must be a paragraph; keep it tiny so it never adds a page.
    tail = doc.add_paragraph(style=nn_item)
    tail.paragraph_format.space_before = Pt(0)


def finish(doc: Document) -> None:
    """Drop what python-docx's default template carries and set the properties Word shows."""
    drop_legacy_parts(doc)
    props = doc.core_properties
    props.title = "{{ tieu_de }}"
    props.subject = "{{ tieu_de }}"
    props.author = "{{ co_quan }}"
    props.language = "vi-VN"
    props.comments = ""
    props.keywords = ""
    props.last_modified_by = "congvan"


@dataclass(frozen=True)
class ListLetter:
    """A follow-up letter: paragraphs, the table of officials (``danh_sach``), paragraphs."""

    out: Path
    before: tuple[str, ...]
    after: tuple[str, ...]


CITE = ("Tiếp theo Công văn số {{ cv_goc }} ngày {{ ngay_cv_goc }} của {{ co_quan_goc }} về việc "
        "{{ trich_yeu_goc }}{% if cv_truoc %} và Công văn số {{ cv_truoc }} ngày {{ ngay_cv_truoc }} "
        "đôn đốc thực hiện{% endif %};")
DON_DOC = ListLetter(
    out=OUT.with_name("cong_van_don_doc.docx"),
    before=(CITE,
            "Theo số liệu tổng hợp đến ngày {{ ngay_so_lieu }}, {{ don_vi }} còn {{ so_chua }}/{{ so_phai }} "
            "cán bộ, công chức chưa trả lời phiếu điều tra xã hội học (thời hạn: {{ han_cu }}), gồm:"),
    after=("Đề nghị {{ nguoi_dung_dau }} chỉ đạo, đôn đốc các cán bộ, công chức nêu trên hoàn thành việc trả lời "
           "phiếu điều tra xã hội học chậm nhất trong ngày {{ han_moi }}; chịu trách nhiệm trước Chủ tịch UBND "
           "tỉnh nếu cơ quan, đơn vị, địa phương không hoàn thành./.",),
)
GIAI_TRINH = ListLetter(
    out=OUT.with_name("cong_van_giai_trinh.docx"),
    before=(CITE,
            "Đến ngày {{ ngay_so_lieu }}, {{ don_vi }} vẫn còn {{ so_chua }}/{{ so_phai }} cán bộ, công chức "
            "chưa trả lời phiếu điều tra xã hội học, gồm:"),
    after=("Chủ tịch UBND tỉnh yêu cầu {{ nguoi_dung_dau }}:",
           "1. Chỉ đạo các cán bộ, công chức nêu trên hoàn thành việc trả lời phiếu điều tra xã hội học "
           "trong ngày {{ han_moi }}.",
           "2. Giải trình bằng văn bản về nguyên nhân chậm trễ, gửi UBND tỉnh (qua Sở Nội vụ) trước ngày "
           "{{ han_moi }} để tổng hợp, báo cáo Chủ tịch UBND tỉnh./."),
)
LIST_WIDTHS = (Mm(15), Mm(80), Mm(70))  # TT | Họ và tên | Chức vụ: the 165 mm between the margins


def officials_table(doc: Document, head: ParagraphStyle, cell: ParagraphStyle, tag: ParagraphStyle) -> None:
    """A bordered table, header repeated on every page; docxtpl's {%tr %} rows vanish when rendered."""
    table = doc.add_table(rows=4, cols=3)
    table.style = doc.styles["Table Grid"]
    table.autofit = False
    for i, width in enumerate(LIST_WIDTHS):
        for c in table.columns[i].cells:
            c.width = width
    for c, text in zip(table.rows[0].cells, ("TT", "Họ và tên", "Chức vụ"), strict=True):
        para(c, text, head, first=True)
    header = table.rows[0]._tr.get_or_add_trPr()
    header.append(OxmlElement("w:tblHeader"))
    para(table.rows[1].cells[0], "{%tr for nguoi in danh_sach %}", tag, first=True)
    for c, text in zip(table.rows[2].cells, ("{{ loop.index }}", "{{ nguoi.ten }}", "{{ nguoi.chuc_vu }}"),
                       strict=True):
        para(c, text, cell, first=True)
    table.rows[2].cells[0].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(table.rows[3].cells[0], "{%tr endfor %}", tag, first=True)
    for row in table.rows:
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))


def build(out: Path = OUT, letter: ListLetter | None = None) -> None:
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

    center = WD_ALIGN_PARAGRAPH.CENTER
    s_parent = style(doc, "CV Cơ quan chủ quản", size=13, align=center)
    s_issuer = style(doc, "CV Cơ quan ban hành", size=13, bold=True, align=center)
    s_nation = style(doc, "CV Quốc hiệu", size=13, bold=True, align=center)
    s_motto = style(doc, "CV Tiêu ngữ", size=14, bold=True, align=center)
    s_issuer_rule = rule_style(doc, "CV Gạch dưới cơ quan", (HEADER_LEFT - 2 * CELL_PAD - ISSUER_RULE) // 2)
    s_motto_rule = rule_style(doc, "CV Gạch dưới tiêu ngữ", (HEADER_RIGHT - 2 * CELL_PAD - MOTTO_WIDTH) // 2)
    s_number = style(doc, "CV Số ký hiệu", size=13, align=center, before=6)
    s_summary = style(doc, "CV Trích yếu", size=13, align=center, before=6)
    s_date = style(doc, "CV Địa danh ngày tháng", size=14, italic=True, align=center, before=6)
    s_kg = style(doc, "CV Kính gửi", size=14, before=18, left=KINH_GUI_AT, keep_next=True)
    s_kg_one = style(doc, "CV Kính gửi một nơi", size=14, before=18, after=6,
                     left=KINH_GUI_AT + KINH_GUI_WORD, hanging=KINH_GUI_WORD)
    s_kg_item = style(doc, "CV Kính gửi dòng", size=14, left=KINH_GUI_AT + KINH_GUI_COLON, keep_next=True)
    s_body = style(doc, "CV Nội dung", size=14, align=WD_ALIGN_PARAGRAPH.JUSTIFY, before=6,
                   first_line=Mm(12.7))
    s_body_last = style(doc, "CV Nội dung cuối", size=14, align=WD_ALIGN_PARAGRAPH.JUSTIFY, before=6,
                        first_line=Mm(12.7), keep_next=True)
    s_body_last.base_style = s_body
    s_nn = style(doc, "CV Nơi nhận", size=12, bold=True, italic=True, before=6, keep_next=True)
    s_nn_item = style(doc, "CV Nơi nhận dòng", size=11)
    s_sign = style(doc, "CV Thẩm quyền ký", size=14, bold=True, align=center, keep_next=True)
    s_name = style(doc, "CV Họ tên người ký", size=14, bold=True, align=center, before=72)
    s_page = style(doc, "CV Số trang", size=14, align=center)
    s_tag = style(doc, "CV Lệnh mẫu", size=14)   # paragraphs holding only {%p %} tags; docxtpl removes them

    page_number_header(doc, s_page)

    # Header block: issuer | national title; then Số + V/v | place and date, on one row.
    header_block(doc, HeaderStyles(s_tag, s_parent, s_issuer, s_issuer_rule, s_nation, s_motto, s_motto_rule,
                                   s_number, s_date), summary=s_summary)

    # Kính gửi: one recipient on the same line; several as "- …;" lines under the colon.
    para(doc, "{%p if kinh_gui|length == 1 %}", s_tag)
    para(doc, "Kính gửi: {{ kinh_gui[0] }}.", s_kg_one)
    para(doc, "{%p else %}", s_tag)
    para(doc, "Kính gửi:", s_kg)
    para(doc, "{%p for noi in kinh_gui %}", s_tag)
    para(doc, "- {{ noi }}{% if loop.last %}.{% else %};{% endif %}", s_kg_item)
    para(doc, "{%p endfor %}", s_tag)
    para(doc, "{%p endif %}", s_tag)

    # The last paragraph keeps with the signature table, so the signature never stands alone on a page.
    if letter is None:
        para(doc, "{%p for doan in noi_dung[:-1] %}", s_tag)
        para(doc, "{{ doan }}", s_body)
        para(doc, "{%p endfor %}", s_tag)
        para(doc, "{{ noi_dung[-1] }}", s_body_last)
    else:
        for text in letter.before:
            para(doc, text, s_body)
        s_list_head = style(doc, "CV Danh sách tiêu đề", size=13, bold=True, align=center, before=3, after=3)
        s_list = style(doc, "CV Danh sách dòng", size=13, before=3, after=3)
        officials_table(doc, s_list_head, s_list, s_tag)
        for text in letter.after[:-1]:
            para(doc, text, s_body)
        para(doc, letter.after[-1], s_body_last)

    sign_block(doc, tag=s_tag, nn=s_nn, nn_item=s_nn_item, sign=s_sign, name=s_name)
    finish(doc)
    doc.save(out)


if __name__ == "__main__":
    build()
    print(OUT)
    for follow_up in (DON_DOC, GIAI_TRINH):
        build(follow_up.out, follow_up)
        print(follow_up.out)
