"""What the ladder has done so far, read from the database: light enough for ``status`` to import
without the letter-making machinery of ``congvan.escalation`` (which re-exports it)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.config import LoadedCampaign
from congvan.policy import Sent
from congvan.store.db import core_transaction
from congvan.store.tables import deliveries, documents

FOLLOW_UP_KINDS = ("mail", "letter", "report")


def history(engine: Engine, lc: LoadedCampaign) -> dict[str | None, Sent]:
    """The highest step taken per unit (None: the campaign's reports). A step counts once its
    deliveries are planned: one that failed before that was not taken, and is planned again."""
    ladder = lc.campaign.follow_up.ladder if lc.campaign.follow_up else []
    doc = documents.c
    with core_transaction(engine) as conn:
        rows = conn.execute(
            sa.select(doc.unit, doc.level, doc.issued_on).where(
                doc.campaign == lc.name, doc.kind.in_(FOLLOW_UP_KINDS),
                sa.exists().where(deliveries.c.document_id == doc.id)))
        taken: dict[str | None, Sent] = {}
        for unit, level, issued_on in rows:
            if 1 <= level <= len(ladder) and (unit not in taken or taken[unit].level < level):
                taken[unit] = Sent(level, ladder[level - 1].name, issued_on)
    return taken


__all__ = ["FOLLOW_UP_KINDS", "history"]
