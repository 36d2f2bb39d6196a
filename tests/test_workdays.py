"""Working days in Vietnam: the holidays package's VN calendar, weekends and a campaign's extras."""

from __future__ import annotations

import datetime as dt

import pytest

from congvan.config import CalendarExtras
from congvan.workdays import EXTRA_DAY_OFF, WorkCalendar

D = dt.date


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (D(2023, 2, 24), None),  # an ordinary Friday
        (D(2023, 2, 25), "Thứ Bảy"),
        (D(2023, 2, 26), "Chủ nhật"),
        (D(2023, 1, 2), "Tết Dương lịch (nghỉ bù)"),  # 1/1/2023 was a Sunday
        (D(2023, 1, 20), "29 Tết"),  # Tết 2023: Giao thừa on Saturday moves to the Friday before
        (D(2023, 1, 26), "Mùng năm Tết Nguyên Đán"),  # ... and Tết day 1 on Sunday to the day after day 4
        (D(2023, 1, 27), None),
        (D(2023, 4, 29), "Ngày Giỗ Tổ Hùng Vương"),  # a holiday on a Saturday is named, not "Thứ Bảy"
        (D(2023, 5, 1), "Ngày Quốc tế Lao động"),
        (D(2023, 5, 2), "Ngày Giỗ Tổ Hùng Vương (nghỉ bù)"),
        (D(2023, 5, 3), "Ngày Chiến thắng (nghỉ bù)"),
        (D(2023, 5, 4), None),
        (D(2023, 9, 4), "Quốc khánh (nghỉ bù)"),  # 2/9/2023 was a Saturday
        (D(2024, 2, 8), "29 Tết"),
        (D(2024, 2, 14), "Mùng năm Tết Nguyên Đán"),
        (D(2024, 2, 15), None),
        (D(2024, 4, 18), "Ngày Giỗ Tổ Hùng Vương"),
        (D(2024, 4, 29), "Ngày nghỉ (thay cho ngày 04/05/2024)"),  # the government's swap, known to the package
        (D(2024, 9, 3), "Quốc khánh"),  # the second National Day (since 2021)
        (D(2025, 5, 2), "Ngày nghỉ (thay cho ngày 26/04/2025)"),
    ],
)
def test_national_calendar(cal: WorkCalendar, day: dt.date, reason: str | None) -> None:
    assert cal.reason_off(day) == reason
    assert cal.is_working_day(day) is (reason is None)


def test_the_packages_make_up_saturdays_are_working_days(cal: WorkCalendar) -> None:
    assert cal.is_working_day(D(2024, 5, 4))  # worked in exchange for Monday 29/4/2024
    assert cal.is_working_day(D(2025, 4, 26))  # worked in exchange for Friday 2/5/2025
    # 2023 had no swap (29/4-3/5 off through nghỉ bù alone): Saturday 6/5/2023 stays a day off.
    assert cal.reason_off(D(2023, 5, 6)) == "Thứ Bảy"


def test_names_do_not_depend_on_the_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without an explicit language the package names holidays in the locale's language.
    monkeypatch.setenv("LANGUAGE", "en_US")
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert WorkCalendar().reason_off(D(2023, 9, 2)) == "Quốc khánh"


def test_campaign_extras() -> None:
    cal = WorkCalendar(CalendarExtras(
        days_off=[D(2023, 2, 27), D(2023, 3, 4), D(2023, 9, 2)],
        working_days=[D(2023, 5, 6), D(2023, 3, 4), D(2024, 4, 29)],
    ))
    assert cal.reason_off(D(2023, 2, 27)) == EXTRA_DAY_OFF  # a Monday off for this campaign
    assert cal.is_working_day(D(2023, 5, 6))  # a make-up Saturday the package does not know
    assert cal.reason_off(D(2023, 3, 4)) == EXTRA_DAY_OFF  # listed as both: the day off wins
    assert cal.reason_off(D(2023, 9, 2)) == EXTRA_DAY_OFF  # already a holiday: the campaign's reason shows
    assert cal.is_working_day(D(2024, 4, 29))  # a campaign may overrule the package's swap
    assert cal.reason_off(D(2023, 5, 7)) == "Chủ nhật"  # the rest of the calendar is untouched
    assert WorkCalendar().reason_off(D(2023, 2, 27)) is None  # extras belong to their calendar only


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # The sample campaign: deadline Friday 24/2/2023.
        (D(2023, 2, 24), -3, D(2023, 2, 21)),
        (D(2023, 2, 24), 1, D(2023, 2, 27)),
        (D(2023, 2, 24), 5, D(2023, 3, 3)),
        # n == 0: the day itself if it is a working day, else the next one.
        (D(2023, 2, 24), 0, D(2023, 2, 24)),
        (D(2023, 2, 25), 0, D(2023, 2, 27)),
        (D(2024, 4, 27), 0, D(2024, 5, 2)),
        # Counting from a day off: that day is not counted, whichever the direction.
        (D(2023, 2, 25), 1, D(2023, 2, 27)),
        (D(2023, 2, 25), -1, D(2023, 2, 24)),
        # Over New Year (the next year is loaded when reached), over Tết, over 30/4-1/5 with its swap.
        (D(2023, 12, 29), 1, D(2024, 1, 2)),
        (D(2024, 1, 2), -1, D(2023, 12, 29)),
        (D(2024, 2, 7), 1, D(2024, 2, 15)),
        (D(2024, 2, 15), -1, D(2024, 2, 7)),
        (D(2024, 4, 26), 1, D(2024, 5, 2)),
        (D(2024, 4, 26), 3, D(2024, 5, 4)),  # Saturday 4/5/2024 is a working day
        (D(2024, 5, 6), -2, D(2024, 5, 3)),
    ],
)
def test_add_working_days(cal: WorkCalendar, start: dt.date, n: int, expected: dt.date) -> None:
    assert cal.add_working_days(start, n) == expected


def test_add_working_days_matches_counting_by_hand(cal: WorkCalendar) -> None:
    # Every start day from December to March (New Year and Tết 2024), every n in -6..6.
    first, last = D(2023, 11, 1), D(2024, 4, 30)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    working = [d for d in days if d.weekday() < 5 and d not in {
        D(2024, 1, 1), *(D(2024, 2, day) for day in range(8, 15)), D(2024, 4, 18), D(2024, 4, 29), D(2024, 4, 30)}]
    for start in days[40:-40]:
        after = [d for d in working if d > start]
        before = [d for d in reversed(working) if d < start]
        for n in range(1, 7):
            assert cal.add_working_days(start, n) == after[n - 1], (start, n)
            assert cal.add_working_days(start, -n) == before[n - 1], (start, -n)
            assert cal.working_days_between(start, after[n - 1]) == n
            # (before, start] holds the n-1 days in between, and start itself if it is a working day.
            assert cal.working_days_between(start, before[n - 1]) == -(n - 1 + (start in working))
        assert cal.add_working_days(start, 0) == (start if start in working else after[0])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (D(2023, 2, 20), D(2023, 2, 21), 1),  # sent on Monday, asked on Tuesday
        (D(2023, 2, 21), D(2023, 2, 21), 0),
        (D(2023, 2, 24), D(2023, 2, 27), 1),  # over a weekend
        (D(2023, 2, 24), D(2023, 2, 26), 0),
        (D(2023, 2, 25), D(2023, 2, 27), 1),  # from a day off
        (D(2023, 2, 27), D(2023, 2, 24), -1),
        (D(2023, 2, 21), D(2023, 3, 3), 8),
        (D(2024, 4, 26), D(2024, 5, 2), 1),  # 27/4-1/5/2024 off
        (D(2024, 4, 26), D(2024, 5, 6), 4),  # 2/5, 3/5, Saturday 4/5, 6/5
        (D(2023, 12, 29), D(2024, 1, 5), 4),  # 1/1/2024 off
    ],
)
def test_working_days_between(cal: WorkCalendar, a: dt.date, b: dt.date, expected: int) -> None:
    assert cal.working_days_between(a, b) == expected


def test_next_working_day(cal: WorkCalendar) -> None:
    assert cal.next_working_day(D(2023, 2, 24)) == D(2023, 2, 27)
    assert cal.next_working_day(D(2023, 2, 21)) == D(2023, 2, 22)
    assert cal.next_working_day(D(2024, 4, 26)) == D(2024, 5, 2)
    assert cal.next_working_day(D(2024, 5, 3)) == D(2024, 5, 4)
    assert cal.next_working_day(D(2023, 1, 19)) == D(2023, 1, 27)  # Tết 2023: 20/1-26/1 off
