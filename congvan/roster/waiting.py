"""The exports in a campaign's responses folder that no import has read yet: what ``status`` points out.

Apart from ``congvan.roster.importing`` so that ``status`` reads the imports table through Core, without the ORM
that importing writes with.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.config import LoadedCampaign
from congvan.roster.sources import export_files
from congvan.store.db import core_transaction
from congvan.store.tables import imports


def waiting_exports(engine: Engine, lc: LoadedCampaign, folder: Path) -> list[Path]:
    """The exports in ``folder`` not imported yet: no import of the campaign's responses has their sha256 (a
    file rejected before is still waiting). An absent folder holds none."""
    if not folder.is_dir():
        return []
    files = export_files(folder)
    with core_transaction(engine) as conn:
        known = set(conn.scalars(sa.select(imports.c.sha256).where(imports.c.campaign == lc.name,
                                                                   imports.c.kind == "responses")))
    waiting = []
    for path in files:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = ""
        if digest not in known:
            waiting.append(path)
    return waiting
