"""The báo cáo's data as an .xlsx: the table with rates as numbers, and every official who has not answered."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from congvan.compliance import Compliance
from congvan.config import LoadedCampaign
from congvan.render import write_atomically
from congvan.report_rows import worst_first
from congvan.sheet_cells import put
from congvan.text import clean
from congvan.vndate import short_date

HEADERS = ("STT", "Đơn vị", "Số phải trả lời", "Đã trả lời", "Tỷ lệ (%)", "Chưa trả lời")
MISSING_HEADERS = ("Đơn vị", "Mã cán bộ", "Họ và tên", "Chức vụ")
RECEIPT_HEADER = "Nhận công văn"
# The dispatch's delivery status per unit (congvan.bounces.UnitDelivery) as the report says it.
RECEIPT_TEXT = {"pending": "Chưa gửi", "sent": "Đã gửi", "delayed": "Đang chuyển (chậm)", "displayed": "Đã đọc",
                "bounced": "Bị trả lại", "failed_permanent": "Không gửi được"}
SUMMARY_SHEET, MISSING_SHEET = "Tổng hợp", "Chưa trả lời"
PERCENT_FORMAT = "0.0%"


def _put(ws: Worksheet, row: int, col: int, value: object, *, bold: bool = False,
         number_format: str | None = None) -> None:
    cell = put(ws, row, col, value)
    if bold:
        cell.font = Font(bold=True)
    if number_format is not None:
        cell.number_format = number_format


def _header(ws: Worksheet, titles: Sequence[str], widths: Sequence[float]) -> None:
    for col, (title, width) in enumerate(zip(titles, widths, strict=True), start=1):
        _put(ws, 1, col, title, bold=True)
        ws.cell(row=1, column=col).alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = width
    ws.freeze_panes = "A2"


def write_workbook(lc: LoadedCampaign, compliance: Compliance, out: Path,
                   receipts: Mapping[str, str] | None = None) -> Path:
    """Sheet "Tổng hợp": the report's table (rates as numbers formatted 0.0%, a total row) and, given
    ``receipts`` (unit code → delivery status of the dispatch, congvan.bounces), whether the unit received
    the dispatch; sheet "Chưa trả lời": every official who has not answered, unit by unit in the same order."""
    rows = worst_first(compliance.units)
    wb = Workbook()
    ws = wb.active
    ws.title = SUMMARY_SHEET
    if receipts is not None:
        _header(ws, (*HEADERS, RECEIPT_HEADER), (6, 45, 14, 12, 11, 13, 24))
    else:
        _header(ws, HEADERS, (6, 45, 14, 12, 11, 13))
    for r, u in enumerate(rows, start=2):
        for c, value in enumerate((r - 1, u.name, u.required, u.responded), start=1):
            _put(ws, r, c, value)
        _put(ws, r, 5, u.rate if u.required else None, number_format=PERCENT_FORMAT)
        _put(ws, r, 6, u.required - u.responded)
        if receipts is not None:
            status = receipts.get(u.code, "pending")
            _put(ws, r, 7, RECEIPT_TEXT.get(status, status))
    last = len(rows) + 1
    if rows:
        ws.auto_filter.ref = f"A1:F{last}"
    total = last + 1
    _put(ws, total, 2, "Tổng cộng", bold=True)
    _put(ws, total, 3, compliance.required, bold=True)
    _put(ws, total, 4, compliance.responded, bold=True)
    _put(ws, total, 5, compliance.responded / compliance.required if compliance.required else None,
         bold=True, number_format=PERCENT_FORMAT)
    _put(ws, total, 6, compliance.required - compliance.responded, bold=True)

    missing = wb.create_sheet(MISSING_SHEET)
    _header(missing, MISSING_HEADERS, (45, 14, 30, 30))
    r = 1
    for u in rows:
        for person in u.missing:
            r += 1
            for c, value in enumerate((u.name, person.staff_id, person.name, person.position), start=1):
                _put(missing, r, c, value)
    if r > 1:
        missing.auto_filter.ref = f"A1:D{r}"

    wb.properties.title = clean(f"Kết quả trả lời phiếu đến hết ngày {short_date(compliance.as_of)}")
    wb.properties.creator = clean(lc.authority.name)
    buf = io.BytesIO()
    wb.save(buf)
    write_atomically(out, buf.getvalue())
    return out
