"""Sending one batch of messages exactly once per address, with retries, recording each outcome.

The order that makes a rerun safe (docs/design.md §3.2, §5.2): the ledger rows exist first (``ledger.plan``); a
message goes to the addresses whose rows are not sent; each 250 is committed at once; a 4xx or a
dropped connection leaves the row retryable and the message is tried again after a backoff, on a
fresh connection if the old one dropped; a 5xx is final for that address and the batch goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine

from congvan import ledger
from congvan.ledger import DeliveryRow, LedgerMessage
from congvan.mail_transport import SmtpConfig, SmtpFailure, SmtpSession, envelope_id
from congvan.recipients import address_key
from congvan.store.models import DeliveryStatus

# Called after each message with (message, rows as now recorded).
Progress = Callable[[LedgerMessage, Sequence[DeliveryRow]], None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # tries per message in one run
    backoff: float = 2.0  # seconds before the second try; doubles each time

    def delay(self, attempt: int) -> float:
        return float(self.backoff * 2 ** (attempt - 1))


@dataclass(frozen=True)
class Outcome:
    """What happened to one address in this run."""

    row: DeliveryRow
    status: DeliveryStatus
    error: str | None = None


def send_batch(
    engine: Engine,
    config: SmtpConfig,
    envelope_sender: str,
    messages: Sequence[LedgerMessage],
    compose: Callable[[LedgerMessage], bytes],
    *,
    retry: RetryPolicy | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Send every unsent address of ``messages`` over one connection (reopened if it drops).

    ``compose`` builds a message's bytes; it is called once per message, only if something is unsent.
    A ``MailServerError`` (bad login, untrusted certificate) propagates: it is the same for every
    message, and nothing more can be sent until the configuration is fixed.
    """
    retry = retry or RetryPolicy()
    outcomes: dict[int, Outcome] = {}
    todo: list[tuple[LedgerMessage, tuple[DeliveryRow, ...]]] = [(m, m.unsent) for m in messages if m.unsent]
    for row in (r for m in messages for r in m.rows if not r.status.retryable):
        outcomes[row.id] = Outcome(row, row.status, row.last_error)  # settled by an earlier run
    raw_cache: dict[str, bytes] = {}
    with SmtpSession(config, envelope_sender) as session:
        for attempt in range(1, retry.attempts + 1):
            if attempt > 1:
                sleep(retry.delay(attempt - 1))
            again: list[tuple[LedgerMessage, tuple[DeliveryRow, ...]]] = []
            for index, (message, rows) in enumerate(todo):
                try:
                    session.connect()
                except SmtpFailure as down:
                    # The server is down or busy: the rest of this round waits for the next try.
                    for waiting, waiting_rows in todo[index:]:
                        _record_failures(engine, {r.id: down.reason for r in waiting_rows}, permanent=False,
                                         rows=waiting_rows, outcomes=outcomes)
                        again.append((waiting, waiting_rows))
                    break
                raw = raw_cache.get(message.message_id)
                if raw is None:
                    raw = raw_cache[message.message_id] = compose(message)
                retry_rows = _send_one(engine, session, message, rows, raw, outcomes)
                if retry_rows:
                    again.append((message, retry_rows))
                if progress is not None:
                    progress(message, [outcomes[r.id].row for r in rows if r.id in outcomes])
            todo = again
            if not todo:
                break
    return [outcomes[r.id] for m in messages for r in m.rows if r.id in outcomes]


def _send_one(engine: Engine, session: SmtpSession, message: LedgerMessage, rows: tuple[DeliveryRow, ...],
              raw: bytes, outcomes: dict[int, Outcome]) -> tuple[DeliveryRow, ...]:
    """One SMTP transaction; record it; return the rows worth another try."""
    by_address = {r.address: r for r in rows}
    try:
        refused = session.send([r.address for r in rows], raw, envid=envelope_id(message.message_id))
    except SmtpFailure as failure:
        _record_failures(engine, {r.id: failure.reason for r in rows}, permanent=not failure.temporary,
                         rows=rows, outcomes=outcomes)
        return rows if failure.temporary else ()
    refused = {address_key(a): v for a, v in refused.items()}
    accepted = [r for r in rows if r.address not in refused]
    ledger.mark_sent(engine, [r.id for r in accepted])
    for r in accepted:
        outcomes[r.id] = Outcome(_with(r, DeliveryStatus.SENT, None), DeliveryStatus.SENT)
    temporary = {by_address[a].id: f"{code} {reply}" for a, (code, reply) in refused.items()
                 if a in by_address and code < 500}
    permanent = {by_address[a].id: f"{code} {reply}" for a, (code, reply) in refused.items()
                 if a in by_address and code >= 500}
    _record_failures(engine, temporary, permanent=False, rows=rows, outcomes=outcomes)
    _record_failures(engine, permanent, permanent=True, rows=rows, outcomes=outcomes)
    return tuple(r for r in rows if r.id in temporary)


def _record_failures(engine: Engine, errors: dict[int, str], *, permanent: bool,
                     rows: tuple[DeliveryRow, ...], outcomes: dict[int, Outcome]) -> None:
    if not errors:
        return
    ledger.mark_failed(engine, errors, permanent=permanent)
    status = DeliveryStatus.FAILED_PERMANENT if permanent else DeliveryStatus.FAILED_TEMPORARY
    for r in rows:
        if r.id in errors:
            outcomes[r.id] = Outcome(_with(r, status, errors[r.id]), status, errors[r.id])


def _with(row: DeliveryRow, status: DeliveryStatus, error: str | None) -> DeliveryRow:
    return replace(row, status=status, attempts=row.attempts + 1, last_error=error)
