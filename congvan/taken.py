"""What the ladder has done so far, read from the database: light enough for ``status`` to import
without the letter-making machinery of ``congvan.escalation`` (which re-exports it)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.config import LoadedCampaign
from congvan.policy import Sent
from congvan.store.db import transaction
from congvan.store.models import Delivery, Document

FOLLOW_UP_KINDS = ("mail", "letter", "report")


def history(engine: Engine, lc: LoadedCampaign) -> dict[str | None, Sent]:
    """The highest step taken per unit (None: the campaign's reports). A step counts once its
    deliveries are planned: one that failed before that was not taken, and is planned again."""
    ladder = lc.campaign.follow_up.ladder if lc.campaign.follow_up else []
    with transaction(engine) as session:
        rows = session.execute(
            sa.select(Document.unit, Document.level, Document.issued_on).where(
                Document.campaign == lc.name, Document.kind.in_(FOLLOW_UP_KINDS),
                sa.exists().where(Delivery.document_id == Document.id)))
        taken: dict[str | None, Sent] = {}
        for unit, level, issued_on in rows:
            if 1 <= level <= len(ladder) and (unit not in taken or taken[unit].level < level):
                taken[unit] = Sent(level, ladder[level - 1].name, issued_on)
    return taken


__all__ = ["FOLLOW_UP_KINDS", "history"]
