"""Excel's dates: serial day numbers to datetimes, ISO dates of ``t="d"`` cells, and which number formats show a
date, as openpyxl reads them (its ``utils.datetime`` and ``styles.numbers``), so a sheet read by
``congvan.xlsx_reader`` gives the values openpyxl gave."""

from __future__ import annotations

import datetime as dt
import re

WINDOWS_EPOCH = dt.datetime(1899, 12, 30)  # day 0 of the 1900 date system: Excel counts 1900-02-29, which never was
MAC_EPOCH = dt.datetime(1904, 1, 1)  # day 0 of the 1904 date system (workbookPr date1904)

# The built-in number formats (ids below 164) that show a date or a time; a workbook need not write them out.
BUILTIN_FORMATS = {14: "mm-dd-yy", 15: "d-mmm-yy", 16: "d-mmm", 17: "mmm-yy", 18: "h:mm AM/PM", 19: "h:mm:ss AM/PM",
                   20: "h:mm", 21: "h:mm:ss", 22: "m/d/yy h:mm", 45: "mm:ss", 46: "[h]:mm:ss", 47: "mmss.0"}

# Quoted literals and [bracketed] colours or locales ([$-42A]) say nothing of a date; [h], [mm], [ss] do.
_NOT_DATE_PARTS = re.compile(r'".*?"|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]')
_DATE_LETTER = re.compile(r"(?<![_\\])[dmhysDMHYS]")  # not a letter escaped (\d) or a space's width (_d)
_DURATION = re.compile(r"\[hh?\](:mm(:ss(\.0*)?)?)?|\[mm?\](:ss(\.0*)?)?|\[ss?\](\.0*)?", re.IGNORECASE)


def is_date_format(code: str) -> bool:
    """Whether a number format shows its number as a date or time (only its first section, for positives)."""
    return _DATE_LETTER.search(_NOT_DATE_PARTS.sub("", code.split(";")[0])) is not None


def is_duration_format(code: str) -> bool:
    """Whether a number format shows elapsed time ([h]:mm:ss): such a cell is a timedelta."""
    return _DURATION.search(code.split(";")[0]) is not None


def from_excel(value: float, epoch: dt.datetime = WINDOWS_EPOCH, *,
               duration: bool = False) -> dt.datetime | dt.time | dt.timedelta:
    """A serial day number as Excel shows it: a time of day below 1, else a datetime to the millisecond."""
    if duration:
        delta = dt.timedelta(days=value)
        if delta.microseconds:
            delta = dt.timedelta(seconds=delta.total_seconds() // 1, microseconds=round(delta.microseconds, -3))
        return delta
    day, fraction = divmod(value, 1)
    diff = dt.timedelta(milliseconds=round(fraction * 86400 * 1000))
    if 0 <= value < 1 and diff.days == 0:
        minutes, seconds = divmod(diff.seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return dt.time(hours, minutes, seconds, diff.microseconds)
    if 0 < value < 60 and epoch == WINDOWS_EPOCH:
        day += 1  # before Excel's 1900-02-29
    return epoch + dt.timedelta(days=day) + diff


_ISO = re.compile(r"(?P<date>(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2}))?T?"
                  r"(?P<time>(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(?P<microsecond>\.\d{1,3})?)?)?Z?")
_ISO_DURATION = re.compile(r"PT((?P<hours>\d+)H)?((?P<minutes>\d+)M)?((?P<seconds>\d+(\.\d{1,3})?)S)?")


def from_iso8601(text: str) -> dt.datetime | dt.date | dt.time | dt.timedelta | None:
    """A ``t="d"`` cell's value: an ISO 8601 date, time, datetime (or, as Excel's strict files write, duration)."""
    if not text:
        return None
    match = _ISO.match(text)
    if match and any(match.groups()):
        parts = {k: int(v) if v else 0 for k, v in match.groupdict().items() if k not in ("date", "time",
                                                                                         "microsecond")}
        micro = int(float(match["microsecond"]) * 1_000_000) if match["microsecond"] else 0
        if not match["date"]:
            return dt.time(parts["hour"], parts["minute"], parts["second"], micro)
        if not match["time"]:
            return dt.date(parts["year"], parts["month"], parts["day"])
        return dt.datetime(parts["year"], parts["month"], parts["day"], parts["hour"], parts["minute"],
                           parts["second"], micro)
    match = _ISO_DURATION.match(text)
    if match and any(match.groups()):
        return dt.timedelta(**{k: float(v) for k, v in match.groupdict().items() if v})
    raise ValueError(f"Invalid datetime value {text}")
