"""Working days in Vietnam: the national calendar of the ``holidays`` package plus a campaign's extras.

What the ``holidays`` package knows for VN (read in its source; releases 0.106 to 0.109 agree on
2019-2026, 0.105 misses the 2025 and 2026 swaps, 0.50 also the Vietnamese names), so campaigns need
not list it: Tết Dương lịch; Tết Nguyên Đán (five days from 2013, Giao thừa to Mùng bốn) with its
weekend days moved to "29 Tết" or "Mùng năm/sáu"; Giỗ Tổ Hùng Vương, 30/4, 1/5 and 2/9 with nghỉ bù on
the next working day when they fall on a weekend; the second Quốc khánh day (1/9 or 3/9) since 2021;
and the government's day swaps (29/4/2024 off for Saturday 4/5/2024, 2/5/2025 for 26/4/2025, 31/8/2026
for 22/8/2026), keeping their make-up Saturdays in ``weekend_workdays``. A swap announced after the
installed release, or a provincial day off, goes in the campaign's :class:`~congvan.config.CalendarExtras`.

Precedence, strongest first: the campaign's extra days off; its make-up working days (these also
override a national holiday, so a campaign can correct a swap the package got wrong); national
holidays; the package's make-up Saturdays; Saturday and Sunday.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import holidays
from holidays.registry import IMPORT_LOCK

from congvan.config import CalendarExtras

EXTRA_DAY_OFF = "Ngày nghỉ theo chiến dịch"
_WEEKEND = {5: "Thứ Bảy", 6: "Chủ nhật"}
_ONE_DAY = dt.timedelta(days=1)


def _vietnam() -> type[holidays.HolidayBase]:
    """The package's Vietnam class, as ``holidays.country_holidays("VN", ...)`` would make. That way imports the
    package ``holidays.countries``, whose ``__init__`` imports all its ~250 countries (a sixth of ``congvan
    status``'s start-up): load the one module alone, under its own name and the package's lock, so that a later
    import of the package (``country_holidays`` elsewhere) finds it and uses this same class."""
    name = "holidays.countries.vietnam"
    with IMPORT_LOCK:
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, Path(holidays.__file__).parent / "countries" /
                                                          "vietnam.py")
            if spec is None or spec.loader is None:  # another layout: the package's own way
                return type(holidays.country_holidays("VN", years=[]))
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
    vietnam: type[holidays.HolidayBase] = module.VN  # the class country_holidays("VN") makes
    return vietnam


class WorkCalendar:
    """Which days the offices work. National holidays are loaded one year at a time, when first asked
    about, so a campaign that runs over New Year or Tết needs no set-up."""

    def __init__(self, extras: CalendarExtras | None = None) -> None:
        extras = extras or CalendarExtras()
        self._days_off = frozenset(extras.days_off)
        self._working_days = frozenset(extras.working_days)
        self._years: dict[int, holidays.HolidayBase] = {}
        # Day -> reason: the ladder's dates are asked about once per unit (2,000 units: 30,000 lookups).
        self._reasons: dict[dt.date, str | None] = {}
        # (day, n) -> add_working_days: each unit's ladder dates are the same few sums.
        self._sums: dict[tuple[dt.date, int], dt.date] = {}

    def _national(self, year: int) -> holidays.HolidayBase:
        national = self._years.get(year)
        if national is None:
            # language="vi": otherwise the package picks the names' language from the locale (LANG).
            # expand=False: a lookup must not quietly load (mutate) another year.
            national = _vietnam()(years=year, language="vi", expand=False)
            self._years[year] = national
        return national

    def reason_off(self, d: dt.date) -> str | None:
        """Why ``d`` is not a working day ("Chủ nhật", "Quốc khánh", ...), or None if it is one."""
        try:
            return self._reasons[d]
        except KeyError:
            reason = self._reasons[d] = self._reason_off(d)
            return reason

    def _reason_off(self, d: dt.date) -> str | None:
        if d in self._days_off:
            return EXTRA_DAY_OFF
        if d in self._working_days:
            return None
        national = self._national(d.year)
        name = national.get(d)
        if name:
            return str(name)  # two holidays on one day come joined by "; "
        if d.weekday() in _WEEKEND and d not in national.weekend_workdays:
            return _WEEKEND[d.weekday()]
        return None

    def is_working_day(self, d: dt.date) -> bool:
        return self.reason_off(d) is None

    def next_working_day(self, d: dt.date) -> dt.date:
        """The first working day strictly after ``d``."""
        return self.add_working_days(d, 1)

    def add_working_days(self, d: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``d`` (before it if ``n`` < 0); ``d`` itself is never counted.

        ``n == 0`` gives ``d`` if it is a working day, else the next working day, as a deadline that
        falls on a day off moves to the next working day. For ``n`` > 0 the result ``r`` satisfies
        ``working_days_between(d, r) == n``.
        """
        try:
            return self._sums[d, n]
        except KeyError:
            result = self._sums[d, n] = self._add_working_days(d, n)
            return result

    def _add_working_days(self, d: dt.date, n: int) -> dt.date:
        if n == 0:
            return d if self.is_working_day(d) else self.add_working_days(d, 1)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        left = abs(n)
        while left:
            d += step
            if self.is_working_day(d):
                left -= 1
        return d

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """The working days in (a, b]: after ``a``, up to and including ``b``; negative (-count of
        (b, a]) if ``b`` is before ``a``. Sent on Monday, asked on Tuesday: 1."""
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        while a < b:
            a += _ONE_DAY
            count += self.is_working_day(a)
        return count
