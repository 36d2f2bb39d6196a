"""Writing a value into a worksheet cell the way every congvan workbook does (the register's export, the report)."""

from __future__ import annotations

from typing import Any

from congvan.text import clean


def put(ws: Any, row: int, col: int, value: object) -> Any:
    """The cell at ``row``, ``col`` of an openpyxl worksheet holding ``value``: text NFC-cleaned and kept as text
    (a name or trích yếu starting with "=" never becomes a formula), anything else as it is."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        cell.value = clean(value)
        cell.data_type = "s"
    else:
        cell.value = value
    return cell
