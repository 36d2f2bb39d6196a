"""Vietnamese date formatting as Decree 30 writes it.

Days 1–9 and months 1–2 take a leading zero; months 3–12 do not: "ngày 05 tháng 02 năm 2023",
"ngày 29 tháng 6 năm 2019".
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

# Vietnam's time (UTC+7, no summer time): the day a response counts on, the cron of the daily run.
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def day_text(day: int) -> str:
    if not 1 <= day <= 31:
        raise ValueError(f"day out of range: {day}")
    return f"{day:02d}"


def month_text(month: int) -> str:
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month}")
    return f"{month:02d}" if month <= 2 else str(month)


def long_date(d: date) -> str:
    """'ngày 05 tháng 02 năm 2023'."""
    return f"ngày {day_text(d.day)} tháng {month_text(d.month)} năm {d.year}"


# A draft leaves the day for the Văn thư to write in; this is the gap it leaves.
DRAFT_GAP = "      "


def draft_date(d: date) -> str:
    """'ngày      tháng 02 năm 2023': the month and year of the planned date, the day left blank."""
    return f"ngày{DRAFT_GAP}tháng {month_text(d.month)} năm {d.year}"


def short_date(d: date) -> str:
    """'06/02/2023', as dates are cited inside running text."""
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")


def weekday_name(d: date) -> str:
    """'Thứ Hai' … 'Chủ nhật'."""
    return WEEKDAYS[d.weekday()]
