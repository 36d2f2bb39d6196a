"""The dispatch's delivery per unit, read from the ledger: what ``status`` shows and what holds a follow-up back.

Apart from ``congvan.bounces`` (which re-exports it) so that ``status`` does not import the mailbox, SMTP and
document machinery it never uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.config import LoadedCampaign
from congvan.documents import dispatch_key
from congvan.recipients import address_key
from congvan.store.db import core_transaction
from congvan.store.tables import DeliveryStatus, deliveries, documents

S = DeliveryStatus


@dataclass(frozen=True)
class DeliveryState:
    """What the ledger knows of one delivery of a document (a row of ``deliveries``), read without the ORM."""

    id: int
    unit: str | None
    address: str
    status: DeliveryStatus
    last_error: str | None
    report_code: str | None
    report_detail: str | None


def dispatch_document(engine: Engine, lc: LoadedCampaign) -> int | None:
    """The id of the campaign's issued dispatch, None before it is issued."""
    with core_transaction(engine) as conn:
        found: int | None = conn.scalar(sa.select(documents.c.id).where(documents.c.key == dispatch_key(lc.name)))
        return found


def dispatch_rows(engine: Engine, document_id: int) -> list[DeliveryState]:
    """The ledger rows of a document, in the order they were planned."""
    d = deliveries.c
    with core_transaction(engine) as conn:
        return [DeliveryState(*row) for row in conn.execute(
            sa.select(d.id, d.unit, d.address, d.status, d.last_error, d.report_code, d.report_detail)
            .where(d.document_id == document_id).order_by(d.id))]


@dataclass(frozen=True)
class UnitDelivery:
    """The dispatch's delivery to one unit, as ``status --json`` shows it."""

    status: str  # pending, sent, bounced, delayed, displayed, failed_permanent
    address: str
    detail: str | None

    @property
    def reached(self) -> bool:
        return self.status in ("sent", "delayed", "displayed")

    def as_json(self) -> dict[str, str | None]:
        return {"status": self.status, "address": self.address, "detail": self.detail}


def unit_deliveries(engine: Engine, lc: LoadedCampaign) -> dict[str, UnitDelivery]:
    """Per addressed unit, the truth about the dispatch: the best news from any of its addresses
    (a letter that reached the fallback counts), with what happened at the others as detail."""
    document_id = dispatch_document(engine, lc)
    rows = dispatch_rows(engine, document_id) if document_id is not None else []
    by_unit: dict[str, list[DeliveryState]] = {}
    for r in rows:
        if r.unit:
            by_unit.setdefault(r.unit, []).append(r)
    rank = {S.DISPLAYED: 0, S.SENT: 1, S.DELAYED: 2, S.BOUNCED: 3, S.FAILED_PERMANENT: 4,
            S.FAILED_TEMPORARY: 5, S.PENDING: 6}
    out = {}
    for addressee in lc.addressees:
        unit = addressee.unit
        own = by_unit.get(unit.code, [])
        if not own:
            out[unit.code] = UnitDelivery("pending", address_key(unit.email),
                                          None if document_id is not None else "the dispatch is not issued yet")
            continue
        best = min(own, key=lambda r: (rank[r.status], -r.id))
        status = "pending" if best.status.retryable else best.status.value
        notes = [_note(r) for r in own if r is not best and r.status is not S.PENDING]
        own_note = best.report_detail or (best.last_error if best.status is not S.SENT else None)
        detail = "; ".join([n for n in [own_note, *notes] if n]) or None
        out[unit.code] = UnitDelivery(status, best.address, detail)
    return out


def _note(row: DeliveryState) -> str:
    why = row.report_detail or row.last_error or ""
    code = f" {row.report_code}" if row.report_code else ""
    return f"{row.status.value}{code} at {row.address}" + (f": {why}" if why else "")


def unreached(engine: Engine, lc: LoadedCampaign,
              deliveries: dict[str, UnitDelivery] | None = None) -> dict[str, str]:
    """Units the dispatch bounced at and reached at none of their addresses yet, with the reason: a
    follow-up would blame them for a letter they never had, so none is sent. ``deliveries``: the
    ``unit_deliveries`` the caller already read (``status`` shows both), else read here."""
    held = {}
    for code, d in (deliveries if deliveries is not None else unit_deliveries(engine, lc)).items():
        if d.status == "bounced":
            held[code] = (f"the dispatch bounced and reached no address of the unit ({d.detail or d.address}); "
                          "no follow-up blames it for a letter it never had")
    return held
