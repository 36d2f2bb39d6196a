"""The delivery ledger (docs/design.md §3): one row per (document, address), written before the mail leaves.

``plan`` creates the rows and fixes each message's Message-ID; ``mark_sent`` runs after the server's
250, ``mark_failed`` after a refusal. A rerun asks ``plan`` again and gets the same rows back, so it
sends only what is not sent yet, under the Message-ID the first run chose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.mail_compose import new_message_id
from congvan.recipients import PlannedMessage, Recipient, address_key
from congvan.store.db import core_transaction, insert_ignoring_duplicates, transaction
from congvan.store.models import Delivery, DeliveryStatus


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    document_id: int
    address: str
    display_name: str
    role: str
    unit: str | None
    message_id: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None

    @property
    def recipient(self) -> Recipient:
        return Recipient(name=self.display_name, address=self.address, role=self.role, unit=self.unit)


@dataclass(frozen=True)
class LedgerMessage:
    """One message as planned, with the ledger rows of its addresses (To first, then Cc)."""

    message_id: str
    planned: PlannedMessage
    rows: tuple[DeliveryRow, ...]

    @property
    def unsent(self) -> tuple[DeliveryRow, ...]:
        return tuple(r for r in self.rows if r.status.retryable)


def plan(engine: Engine, document_id: int, messages: Sequence[PlannedMessage], *,
         message_id_domain: str) -> list[LedgerMessage]:
    """Make sure every address of every message has its row; return the messages with their rows.

    Idempotent: addresses already in the ledger for this document keep their row, status and
    Message-ID; a message some of whose addresses are known reuses that Message-ID. An address
    that appears in several messages is kept only in the first (one delivery per address).
    """
    with transaction(engine) as session:
        known = {r.address: r for r in session.scalars(sa.select(Delivery).where(Delivery.document_id == document_id))}
        inserts: list[dict[str, object]] = []
        claimed: set[str] = set()
        for message in messages:
            fresh = [r for r in message.recipients if address_key(r.address) not in claimed]
            claimed.update(address_key(r.address) for r in fresh)
            existing = [known[address_key(r.address)] for r in fresh if address_key(r.address) in known]
            message_id = existing[0].message_id if existing else new_message_id(message_id_domain)
            inserts.extend(
                {"document_id": document_id, "address": address_key(r.address), "display_name": r.name,
                 "role": r.role, "unit": r.unit, "message_id": message_id, "status": DeliveryStatus.PENDING,
                 "attempts": 0}
                for r in fresh if address_key(r.address) not in known)
        if inserts:
            # Two planners at once (a manual and a scheduled run) must not fail on the unique (document, address).
            session.execute(insert_ignoring_duplicates(session, Delivery), inserts)
        rows = {r.address: _row(r) for r in session.scalars(
            sa.select(Delivery).where(Delivery.document_id == document_id))}
    result: list[LedgerMessage] = []
    taken: set[str] = set()
    for message in messages:
        own = [rows[address_key(r.address)] for r in message.recipients if address_key(r.address) not in taken]
        taken.update(address_key(r.address) for r in message.recipients)
        if own:
            # A concurrent planner may have won the race for these rows: theirs is the Message-ID.
            result.append(LedgerMessage(message_id=own[0].message_id, planned=message, rows=tuple(own)))
    return result


def mark_sent(engine: Engine, delivery_ids: Iterable[int], when: dt.datetime | None = None) -> None:
    ids = list(delivery_ids)
    if not ids:
        return
    # A Core statement on a plain connection, not an ORM session: this runs once per message sent and
    # is on the sending path (see bench/bench_mail.py).
    with core_transaction(engine) as conn:
        conn.execute(sa.update(Delivery).where(Delivery.id.in_(ids)).values(
            status=DeliveryStatus.SENT, sent_at=when or dt.datetime.now(dt.UTC), last_error=None,
            attempts=Delivery.attempts + 1))


def mark_failed(engine: Engine, errors: Mapping[int, str], *, permanent: bool) -> None:
    """Record a refusal per delivery id. A row already sent stays sent (its 250 is what counts)."""
    if not errors:
        return
    status = DeliveryStatus.FAILED_PERMANENT if permanent else DeliveryStatus.FAILED_TEMPORARY
    with transaction(engine) as session:
        for delivery_id, error in errors.items():
            session.execute(sa.update(Delivery)
                            .where(Delivery.id == delivery_id, Delivery.status.in_(_UNSETTLED))
                            .values(status=status, last_error=error[:2000], attempts=Delivery.attempts + 1))


# Rows a refusal may still be recorded on: not yet accepted by the server (a 250 is what counts).
_UNSETTLED = [s for s in DeliveryStatus if s.retryable or s is DeliveryStatus.FAILED_PERMANENT]


def deliveries(engine: Engine, document_id: int) -> list[DeliveryRow]:
    with transaction(engine) as session:
        found = session.scalars(sa.select(Delivery).where(Delivery.document_id == document_id)
                                .order_by(Delivery.id))
        return [_row(d) for d in found]


def _row(d: Delivery) -> DeliveryRow:
    return DeliveryRow(id=d.id, document_id=d.document_id, address=d.address, display_name=d.display_name,
                       role=d.role, unit=d.unit, message_id=d.message_id, status=d.status, attempts=d.attempts,
                       last_error=d.last_error, sent_at=d.sent_at)
