"""Cell values of a roster or export: text as written (trimmed, NFC), headers compared loosely, and the
completion time in any of the forms Excel and the survey systems write it."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from congvan.excel_dates import from_excel
from congvan.i18n import N_, _
from congvan.text import clean, nfc
from congvan.vndate import VIETNAM


def _text(value: object) -> str:
    """A cell as trimmed NFC text; a whole number Excel stored as 1023.0 becomes '1023'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = value if isinstance(value, str) else str(value)
    # Most cells of a big file are already what the cleaning below makes of them: printable (no control character,
    # no whitespace but the ASCII space), one space between words, and NFC (ASCII is), such as "Nguyễn Thị Hồng".
    if text.isprintable() and "  " not in text and text == text.strip() and (
            text.isascii() or unicodedata.is_normalized("NFC", text)):
        return text
    return " ".join(clean(text).split())


def header_key(text: str) -> str:
    """How headers are compared: NFC, no surrounding or repeated spaces, case-folded."""
    text = nfc(text).replace("\ufeff", "").replace("\u200b", "")
    return nfc(" ".join(text.split()).casefold())


_VN_MOMENT = re.compile(
    r"(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"
    r"(?:[ T,]+(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,]\d+)?)?\s*(?P<ampm>AM|PM|SA|CH)?)?",
    re.IGNORECASE)
# Excel serial days from 2000 to 2100: a date cell whose format was lost; anything else is not a time.
_SERIAL_RANGE = (36526, 73051)


def parse_completed_at(value: object) -> dt.datetime | None:
    """A completion time, timezone-aware (naive times are Vietnam's); None when empty (not completed).

    Accepts Excel datetimes, ISO 8601, "dd/mm/yyyy HH:MM[:SS]" and "dd/mm/yyyy" (also with '-' or '.',
    and a trailing AM/PM or SA/CH). Raises ValueError with a short reason otherwise.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _aware_vn(value)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=VIETNAM)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not _SERIAL_RANGE[0] <= value < _SERIAL_RANGE[1]:
            raise ValueError(_("the number {value} is not a date and time").format(value=value))
        moment = from_excel(value)
        assert isinstance(moment, dt.datetime)  # a serial in the range is a day, never a time of day alone
        return _aware_vn(moment)
    text = _text(value)
    if not text:
        return None
    match = _VN_MOMENT.fullmatch(text)
    if match:
        return _from_match(match)
    try:
        return _aware_vn(dt.datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(_("unreadable time '{text}' (expected dd/mm/yyyy HH:MM:SS, dd/mm/yyyy or yyyy-mm-dd "
                           "HH:MM)").format(text=text)) from None


def _from_match(match: re.Match[str]) -> dt.datetime:
    hour = int(match["H"] or 0)
    ampm = (match["ampm"] or "").upper()
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError(_("unreadable time '{text}' (hour {hour} with {ampm})").format(text=match[0], hour=hour,
                                                                                           ampm=ampm))
        hour = hour % 12 + (12 if ampm in ("PM", "CH") else 0)
    try:
        return dt.datetime(int(match["y"]), int(match["m"]), int(match["d"]), hour, int(match["M"] or 0),
                           int(match["S"] or 0), tzinfo=VIETNAM)
    except ValueError as exc:
        raise ValueError(_("'{text}' is not a real date and time ({reason}; day comes first)").format(
            text=match[0], reason=_reason(exc))) from None


# What datetime() says of an impossible date or time, as people read it (anything else is kept as it is).
_REASONS = (N_("day is out of range for month"), N_("month must be in 1..12"), N_("hour must be in 0..23"),
            N_("minute must be in 0..59"), N_("second must be in 0..59"), N_("year 0 is out of range"))


def _reason(exc: ValueError) -> str:
    text = str(exc)
    return _(text) if text in _REASONS else text


def _aware_vn(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VIETNAM)
