"""Vietnamese dates as Decree 30 writes them: a leading zero for days 1-9 and months 1-2 only."""

from __future__ import annotations

import datetime as dt

import pytest

from congvan.vndate import DRAFT_GAP, day_text, draft_date, long_date, month_text, short_date


@pytest.mark.parametrize(
    ("date", "text"),
    [
        (dt.date(2023, 2, 5), "ngày 05 tháng 02 năm 2023"),
        (dt.date(2019, 6, 29), "ngày 29 tháng 6 năm 2019"),
        (dt.date(2024, 1, 1), "ngày 01 tháng 01 năm 2024"),
        (dt.date(2022, 12, 10), "ngày 10 tháng 12 năm 2022"),
        (dt.date(2023, 3, 9), "ngày 09 tháng 3 năm 2023"),
        (dt.date(2023, 2, 10), "ngày 10 tháng 02 năm 2023"),
        (dt.date(2023, 11, 30), "ngày 30 tháng 11 năm 2023"),
    ],
)
def test_long_date(date: dt.date, text: str) -> None:
    assert long_date(date) == text


def test_leading_zero_only_for_days_1_to_9_and_months_1_2() -> None:
    assert [day_text(d) for d in (1, 9, 10, 31)] == ["01", "09", "10", "31"]
    assert [month_text(m) for m in range(1, 13)] == ["01", "02", *(str(m) for m in range(3, 13))]


@pytest.mark.parametrize("day", [0, 32, -1])
def test_day_out_of_range_raises(day: int) -> None:
    with pytest.raises(ValueError, match="day out of range"):
        day_text(day)


@pytest.mark.parametrize("month", [0, 13])
def test_month_out_of_range_raises(month: int) -> None:
    with pytest.raises(ValueError, match="month out of range"):
        month_text(month)


def test_draft_date_leaves_the_day_blank() -> None:
    text = draft_date(dt.date(2023, 2, 10))
    assert text == f"ngày{DRAFT_GAP}tháng 02 năm 2023"
    assert DRAFT_GAP.strip() == "" and len(DRAFT_GAP) >= 4  # room to write the day in by hand
    assert "10" not in text
    assert draft_date(dt.date(2019, 6, 29)).endswith("tháng 6 năm 2019")


def test_short_date_pads_both() -> None:
    assert short_date(dt.date(2023, 2, 6)) == "06/02/2023"
    assert short_date(dt.date(2019, 6, 29)) == "29/06/2019"
