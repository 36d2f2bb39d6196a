"""The example files the user guide (docs/huong-dan-su-dung.md) works with, in docs/vi-du/.

``python scripts/guide_examples.py`` writes them; tests/test_guide.py checks that the committed files are what
this writes, and walks the guide with them:

- ``ket-qua-YYYY-MM-DD.csv``: the survey's export as downloaded on that day for the sample campaign
  (par-index-2022), simulated from its roster exactly as ``congvan demo`` does (same seed, same lagging units);
- ``danh-sach-can-bo.xlsx``: a coordinator's own list of officials for three units (chapter 11).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "vi-du"
EXPORT_DAYS = (dt.date(2023, 2, 20), dt.date(2023, 2, 27), dt.date(2023, 3, 3))
OWN_ROSTER = [
    ("TN-001", "Ngô Thanh Sơn", "Giám đốc", "STNMT", "ngothanhson.stnmt@daklak.example"),
    ("TN-002", "Lê Thị Hồng Nhung", "Phó Giám đốc", "STNMT", ""),
    ("TN-003", "Đặng Văn Quý", "Chánh Văn phòng", "STNMT", ""),
    ("EH-001", "Phạm Văn Tuấn", "Chủ tịch UBND huyện", "EAHLEO", "phamvantuan.eahleo@daklak.example"),
    ("EH-002", "H'Yim Kđoh", "Trưởng phòng Nội vụ", "EAHLEO", ""),
    ("KP-001", "Nguyễn Hữu Phước", "Chủ tịch UBND huyện", "KPAC", "nguyenhuuphuoc.kpac@daklak.example"),
    ("KP-002", "Y Blim Niê", "Chánh Văn phòng HĐND và UBND huyện", "KPAC", ""),
]


def export_rows(day: dt.date) -> list[tuple[str, dt.datetime]]:
    """The sample campaign's answers completed by the end of ``day``, as the demo simulates them."""
    from congvan import roster
    from congvan.config import load_campaign
    from flows.demo import _answers

    lc = load_campaign(ROOT / "config", "par-index-2022")
    follow_up = lc.require_follow_up()
    answers = _answers(lc, roster.roster_path(ROOT / "config", lc), lc.campaign.date, follow_up.deadline)
    return [a for a in answers if a[1].date() <= day]


def write_all(out: Path = OUT) -> list[Path]:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from congvan.simulate import write_export

    written = [write_export(out / f"ket-qua-{day.isoformat()}.csv", export_rows(day)) for day in EXPORT_DAYS]
    book = Workbook()
    sheet = book.active
    sheet.title = "Danh sách"
    sheet.append(["Mã cán bộ", "Họ và tên", "Chức vụ", "Đơn vị", "Thư điện tử"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in OWN_ROSTER:
        sheet.append(list(row))
    for letter, width in zip("ABCDE", (12, 26, 36, 10, 38), strict=True):
        sheet.column_dimensions[letter].width = width
    book.properties.creator = "congvan"
    book.properties.created = book.properties.modified = dt.datetime(2026, 11, 28)
    path = out / "danh-sach-can-bo.xlsx"
    book.save(path)
    return [*written, path]


if __name__ == "__main__":
    for path in write_all():
        print(path.relative_to(ROOT))
