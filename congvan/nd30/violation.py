"""What a Decree-30 rule reports (``Violation``), and what every rule shares: its wording, the units
(points, millimetres in twips) and the body font.
"""

from __future__ import annotations

from dataclasses import dataclass

from congvan.nd30.model import ParaFormat

TNR = "Times New Roman"
MM = 1440 / 25.4  # twips per millimetre
SNIPPET = 60


@dataclass(frozen=True)
class Violation:
    """One broken rule: its id (e.g. "H8"), the offending text (shortened) and what was expected."""

    rule: str
    text: str
    expected: str


def format_violation(v: Violation) -> str:
    """``H11: 'Đắk Lắk, ngày 05 tháng 03 năm 2023': expected month without leading zero (tháng 3)``."""
    return f"{v.rule}: {v.text!r}: expected {v.expected}"


def snip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"


def violation(rule: str, text: str, expected: str) -> Violation:
    return Violation(rule, snip(text), expected)


def pt(size: float | None) -> str:
    return "mixed" if size is None else f"{size:g} pt"


def size_in(p: ParaFormat, lo: float, hi: float) -> bool:
    return bool(p.inked) and all(r.size is not None and lo <= r.size <= hi for r in p.inked)


def has_lower(text: str) -> bool:
    return any(c.islower() for c in text)
