"""The report's list of officials who have not answered, as a separate attachment file (văn bản kèm theo).

Decree 30, Appendix I, III.1(d): an attachment sent in its own file is signed by the organisation, with the
number and symbol of the document it goes with and the signing time in its top right corner
(``congvan.signing``). This module writes that file as a .docx (A4, Times New Roman, Decree-30 margins),
which the PDF step converts; the signature comes after.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from congvan.compliance import Compliance
from congvan.render import write_atomically
from congvan.text import nfc
from congvan.vndate import short_date

FONT = "Times New Roman"
HEADINGS = ("STT", "Đơn vị", "Họ và tên", "Chức vụ")
WIDTHS_MM = (14, 54, 50, 47)  # 165 mm: A4 less 30 mm left and 15 mm right margins
ANNEX_TITLE = "DANH SÁCH CÁN BỘ, CÔNG CHỨC CHƯA TRẢ LỜI"


def annex_title(compliance: Compliance) -> list[str]:
    return [ANNEX_TITLE, f"(tính đến hết ngày {short_date(compliance.as_of)})"]


def write_annex(compliance: Compliance, path: Path) -> Path:
    """One row per official still missing, unit by unit in the units' order; the first page holds nothing
    in its top right corner, where the organisation's signature information goes."""
    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(25), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    style = document.styles["Normal"]
    style.font.name, style.font.size = FONT, Pt(13)
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for slot in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(slot), FONT)
    title, when = annex_title(compliance)
    for text, bold, italic in ((title, True, False), (when, False, True)):
        paragraph = document.add_paragraph()
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = paragraph.add_run(text)
        run.bold, run.italic = bold, italic
    missing = [(u.name, o) for u in compliance.units for o in u.missing]
    table = document.add_table(rows=1, cols=len(HEADINGS))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, WIDTHS_MM, strict=True):  # LibreOffice reads the grid's widths
        column.width = Mm(width)
    for cell, heading, width in zip(table.rows[0].cells, HEADINGS, WIDTHS_MM, strict=True):
        cell.width = Mm(width)
        cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
        cell.paragraphs[0].add_run(heading).bold = True
    for n, (unit, official) in enumerate(missing, start=1):
        cells = table.add_row().cells
        for cell, value, width in zip(cells, (str(n), unit, official.name, official.position), WIDTHS_MM, strict=True):
            cell.width = Mm(width)
            cell.paragraphs[0].add_run(nfc(value))
        cells[0].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    if not missing:
        document.add_paragraph("Tất cả cán bộ, công chức trong danh sách đã trả lời.")
    from io import BytesIO

    buffer = BytesIO()
    document.save(buffer)
    write_atomically(path, buffer.getvalue())
    return path


__all__ = ["ANNEX_TITLE", "annex_title", "write_annex"]
