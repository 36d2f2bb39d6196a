"""The outgoing register as a workbook ready to print: Decree 30's "sổ đăng ký văn bản đi" (its ten
columns, one row per issued document), one sheet per book and year, A4 landscape, Times New Roman."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.worksheet.worksheet import Worksheet

from congvan.register_book import RegisterRow
from congvan.render import write_atomically
from congvan.sheet_cells import put

# (heading, column width in characters): the register's columns in the decree's order.
COLUMNS: tuple[tuple[str, float], ...] = (
    ("Số, ký hiệu văn bản", 16),
    ("Ngày tháng văn bản", 11),
    ("Tên loại và trích yếu nội dung văn bản", 44),
    ("Người ký", 16),
    ("Nơi nhận văn bản", 36),
    ("Đơn vị, người nhận bản lưu", 14),
    ("Số lượng bản", 8),
    ("Ngày chuyển", 11),
    ("Ký nhận", 10),
    ("Ghi chú", 18),
)
FONT = "Times New Roman"
DATE_FORMAT = "dd/mm/yyyy"
LINE_HEIGHT = 15.0  # points, for 11 pt Times New Roman
CHARS_PER_WIDTH = 1.1  # Times is narrower than the "0" of Calibri that column widths count in
_thin = Side(style="thin")
_box = Border(left=_thin, right=_thin, top=_thin, bottom=_thin)


def write_register(rows: Sequence[RegisterRow], out: Path, *, authority_names: dict[str, str]) -> Path:
    """Write ``rows`` (already in register and number order) to ``out``; one sheet per (book, year)."""
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    workbook.remove(first)
    books: dict[tuple[str, int], list[RegisterRow]] = {}
    for row in rows:
        books.setdefault((row.register, row.ngay.year), []).append(row)
    for (register, year), book in books.items():
        title = f"{register} {year}"[:31]
        _sheet(workbook.create_sheet(title), book, authority=authority_names.get(register, register), year=year)
    buf = io.BytesIO()
    workbook.save(buf)
    write_atomically(out, buf.getvalue())
    return out


def _sheet(ws: Worksheet, rows: Sequence[RegisterRow], *, authority: str, year: int) -> None:
    width = len(COLUMNS)
    numbers = [r.so_ky_hieu.split("/", 1)[0] for r in rows]
    heading = [
        (authority.upper(), 12, False),
        ("SỔ ĐĂNG KÝ VĂN BẢN ĐI", 16, True),
        (f"Năm {year}", 13, True),
        (f"Từ ngày {rows[0].ngay:%d/%m/%Y} đến ngày {rows[-1].ngay:%d/%m/%Y}; "
         f"từ số {numbers[0]} đến số {numbers[-1]}", 12, False),
    ]
    for line, (text, size, bold) in enumerate(heading, start=1):
        ws.merge_cells(start_row=line, start_column=1, end_row=line, end_column=width)
        cell = put(ws, line, 1, text)
        cell.font = Font(name=FONT, size=size, bold=bold)
        cell.alignment = Alignment(horizontal="center")
    top = len(heading) + 2
    for col, (title, col_width) in enumerate(COLUMNS, start=1):
        cell = put(ws, top, col, title)
        cell.font = Font(name=FONT, size=11, bold=True)
        number = put(ws, top + 1, col, f"({col})")
        number.font = Font(name=FONT, size=10, italic=True)
        for c in (cell, number):
            c.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            c.border = _box
        ws.column_dimensions[cell.column_letter].width = col_width
    ws.row_dimensions[top].height = LINE_HEIGHT * max(_lines(title, w) for title, w in COLUMNS)
    for offset, row in enumerate(rows, start=top + 2):
        values: tuple[object, ...] = (row.so_ky_hieu, row.ngay, row.ten_loai_trich_yeu, row.nguoi_ky, row.noi_nhan,
                                      row.ban_luu, row.so_luong_ban or None, row.ngay_chuyen, "", row.ghi_chu)
        ws.row_dimensions[offset].height = LINE_HEIGHT * max(
            _lines(str(v), w) for v, (_, w) in zip(values, COLUMNS, strict=True) if isinstance(v, str))
        for col, value in enumerate(values, start=1):
            cell = put(ws, offset, col, value)
            cell.font = Font(name=FONT, size=11)
            cell.border = _box
            centred = col in (1, 2, 7, 8)
            cell.alignment = Alignment(horizontal="center" if centred else "left", vertical="top", wrap_text=True)
            if col in (2, 8) and value is not None:
                cell.number_format = DATE_FORMAT
    ws.print_title_rows = f"{top}:{top + 1}"
    ws.freeze_panes = ws.cell(row=top + 2, column=1)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "Trang &P/&N"


def _lines(text: str, width: float) -> int:
    """How many lines ``text`` wraps to in a column ``width`` characters wide: neither Excel nor LibreOffice
    grows a row for wrapped text that openpyxl wrote, so the height is set here."""
    per_line = max(1, int(width * CHARS_PER_WIDTH))
    return max(1, sum(-(-max(len(part), 1) // per_line) for part in text.splitlines() or [""]))
