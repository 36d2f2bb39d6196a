"""Rosters and survey response exports (.xlsx/.csv) into the database (docs/design.md §1, §3).

A roster is who must answer: a valid one *replaces* the campaign's staff, and a roster with any bad
row loads nothing (a half-loaded roster would chase the wrong people). A response export says who
answered when: it *adds* to what is known, and the earliest completion per person counts. The file's
sha256 is recorded either way, so importing the same bytes again changes nothing.

Reading is lenient where Excel gets in the way: header spelling (NFC, spaces, case), title rows above
the header, staff IDs turned into numbers, ``;``-separated CSV, Vietnamese day/month order.

``sources`` finds and reads a file into rows, ``cells`` reads a cell's value, ``units`` matches a cell to a
unit, ``rows`` checks the rows and makes them records, ``importing`` loads them into the store, ``waiting`` finds
the exports not imported yet. The rest of congvan imports the names below from ``congvan.roster``; those of
``importing`` and ``waiting`` are loaded on first use, so that reading a roster (``validate``) imports no SQLAlchemy,
and ``status`` no ORM.
"""

from typing import TYPE_CHECKING, Any

from congvan.roster.cells import header_key, parse_completed_at
from congvan.roster.rows import ParsedResponses, ParsedRoster, StaffRecord, check_roster, read_responses, read_roster
from congvan.roster.sources import (
    MAX_FILE_BYTES,
    MAX_ROWS,
    SUFFIXES,
    Kind,
    export_files,
    responses_dir,
    roster_path,
)

if TYPE_CHECKING:
    from congvan.roster.importing import (
        ImportRejected,
        ImportReport,
        import_new_exports,
        import_responses,
        import_roster,
    )
    from congvan.roster.waiting import waiting_exports

_IMPORTING = frozenset({"ImportRejected", "ImportReport", "import_new_exports", "import_responses", "import_roster"})


def __getattr__(name: str) -> Any:
    if name in _IMPORTING:
        from congvan.roster import importing

        return getattr(importing, name)
    if name == "waiting_exports":  # read by `status`, which imports no ORM
        from congvan.roster.waiting import waiting_exports

        return waiting_exports
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "MAX_FILE_BYTES", "MAX_ROWS", "SUFFIXES", "ImportRejected", "ImportReport", "Kind",
    "ParsedResponses", "ParsedRoster", "StaffRecord", "check_roster", "export_files", "header_key",
    "import_new_exports", "import_responses", "import_roster", "parse_completed_at", "read_responses", "read_roster",
    "responses_dir", "roster_path", "waiting_exports",
]
