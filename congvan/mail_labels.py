"""What a message is about, for the people who file it: the ``X-Congvan-*`` headers (docs/design.md §5.3).

congvan puts them on every mail it composes for a campaign: the unit it concerns (its code, ``KPAC``),
the kind (``cong-van`` for the dispatch, else the ladder step's name: ``nhac-nho``, ``don-doc``…), the
document's số và ký hiệu and its date. The mail catcher names its files by them; a mail client can sort
or filter by them. Standard library only: the catcher imports this without the SMTP client.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from email.message import Message

UNIT_HEADER = "X-Congvan-Unit"
KIND_HEADER = "X-Congvan-Kind"
NUMBER_HEADER = "X-Congvan-Number"
DATE_HEADER = "X-Congvan-Date"
DISPATCH_KIND = "cong-van"  # the dispatch itself; a ladder step is labelled with its own name
ALERT_KIND = "canh-bao-tra-lai"  # the coordinator's alert listing returned mail (congvan.bounces)

_NOT_SLUG = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class MailLabels:
    """The labels of one message. ``number`` is the số và ký hiệu ("05/UBND-KSTTHC"); ``day`` the date of
    the document or of the step that sent it (the simulated day in the demo, today in real use)."""

    kind: str
    unit: str | None = None
    number: str | None = None
    day: dt.date | None = None

    def headers(self) -> list[tuple[str, str]]:
        """(name, value) pairs, unencoded: the composer encodes and checks them like any header."""
        pairs = [(KIND_HEADER, self.kind)]
        if self.unit:
            pairs.append((UNIT_HEADER, self.unit))
        if self.number:
            pairs.append((NUMBER_HEADER, self.number))
        if self.day is not None:
            pairs.append((DATE_HEADER, self.day.isoformat()))
        return pairs


def read_labels(headers: Message) -> MailLabels | None:
    """The labels a message carries, or None without ``X-Congvan-Kind``. The values are the sender's
    text, untrusted: ``slug`` them before they name anything; a date that does not parse is dropped."""
    kind = _value(headers, KIND_HEADER)
    if not kind:
        return None
    day = None
    with_date = _value(headers, DATE_HEADER)
    if with_date:
        try:
            day = dt.date.fromisoformat(with_date)
        except ValueError:
            day = None
    return MailLabels(kind=kind, unit=_value(headers, UNIT_HEADER) or None,
                      number=_value(headers, NUMBER_HEADER) or None, day=day)


def _value(headers: Message, name: str) -> str:
    value = headers.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def slug(text: str, limit: int = 40) -> str:
    """``text`` as ASCII letters, digits and single hyphens, at most ``limit`` characters, for a file name:
    "Sở Tài nguyên & Môi trường" → "So-Tai-nguyen-Moi-truong", "05/UBND-KSTTHC" → "05-UBND-KSTTHC",
    "Ea H'leo" → "Ea-H-leo". Case is kept (unit codes are upper case). "" when nothing is left."""
    folded = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_text).strip("-")[:limit].strip("-")
