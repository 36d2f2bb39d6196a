"""The report's rows and numbers as the báo cáo, its chart and its workbook all say them."""

from __future__ import annotations

from collections.abc import Sequence

from congvan.compliance import UnitCompliance

# --- numbers as Vietnamese text --------------------------------------------------------------------


def percent_number(rate: float) -> str:
    """0.857 -> "85,7" (Vietnamese decimal comma, one decimal)."""
    return f"{rate * 100:.1f}".replace(".", ",")


def threshold_text(threshold: float) -> str:
    """0.8 -> "80%", 0.855 -> "85,5%"."""
    value = threshold * 100
    return f"{value:.0f}%" if abs(value - round(value)) < 1e-9 else f"{value:.1f}%".replace(".", ",")


def worst_first(units: Sequence[UnitCompliance]) -> list[UnitCompliance]:
    """Lowest response rate first, then the most people missing; ties keep units.yaml order."""
    return sorted(units, key=lambda u: (u.rate, -(u.required - u.responded)))
