"""Delivery truth (docs/design.md §5.4): what the reply mailbox says after the server's 250, applied to the ledger.

A relay accepts a letter for a mailbox that no longer exists and returns it minutes later by mail.
``apply`` matches each report (``congvan.reports``) to the ledger row it names, by the Message-ID (or
the envelope id we sent) and the recipient address, and moves the row on: ``sent`` → ``delayed`` →
``bounced``, or → ``displayed`` for a read receipt. A report that names a message we never sent, an
address that message did not go to, or contradicts what is known (a "delivered" for a bounced row)
changes nothing and says why in one line.

Then: a unit whose dispatch bounced gets the same document once at its fallback address
(``fallback_messages``); a bounced address is not used again until units.yaml changes it
(``reroute``); the escalation does not blame a unit the dispatch never reached (``unreached``); the
coordinator gets one mail per run listing the new bounces (``alert``).
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan import reports
from congvan.config import LoadedCampaign, Unit
from congvan.errors import UnreadableReport
from congvan.i18n import N_, _, status_word
from congvan.imap import Fetched, ImapConfig, read_new
from congvan.mail_compose import Mailbox, Outgoing, compose, new_message_id
from congvan.mail_labels import ALERT_KIND, MailLabels
from congvan.mail_transport import SmtpConfig, SmtpFailure, SmtpSession
from congvan.recipients import PlannedMessage, Recipient, address_key
from congvan.store.db import transaction
from congvan.store.models import Delivery, DeliveryStatus, Document
from congvan.unit_delivery import UnitDelivery, dispatch_rows, unit_deliveries, unreached

S = DeliveryStatus
# Which statuses a report may move a row from, per kind of report.
_FROM: dict[str, tuple[DeliveryStatus, ...]] = {
    "bounced": (S.SENT, S.DELAYED),
    "delayed": (S.SENT,),
    "displayed": (S.SENT, S.DELAYED),
}
_TO = {"bounced": S.BOUNCED, "delayed": S.DELAYED, "displayed": S.DISPLAYED}
NOT_A_REPORT = N_("not a delivery report or read receipt")
OWN_MESSAGE = N_("a message congvan sent itself, not a report")


@dataclass
class Applied:
    """What reading some reports did: the rows changed (one line each) and the messages skipped."""

    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bounced: int = 0
    reports: int = 0  # messages read as delivery reports or receipts (matched or not)

    def extend(self, other: Applied) -> None:
        self.changed += other.changed
        self.skipped += other.skipped
        self.bounced += other.bounced
        self.reports += other.reports

    def lines(self) -> list[str]:
        return [*self.changed, *(f"skipped: {s}" for s in self.skipped)]


def apply(engine: Engine, campaign: str, raw: bytes, *, source: str,
          own_domain: str | None = None, now: dt.datetime | None = None) -> Applied:
    """Read one message of the reply mailbox and apply what it reports to the campaign's ledger."""
    result = Applied()
    try:
        report = reports.parse(raw)
    except UnreadableReport as exc:
        result.skipped.append(f"{source}: {exc}")
        return result
    if report is None:
        result.skipped.append(f"{source}: {_(NOT_A_REPORT)}")
        return result
    if own_domain and report.report_id.startswith("<cv.") and report.report_id.endswith(f"@{own_domain}>"):
        result.skipped.append(f"{source}: {_(OWN_MESSAGE)}")
        return result
    result.reports = 1
    if not report.message_ids:
        result.skipped.append(_("{source}: names no Message-ID or envelope id of ours").format(source=source))
        return result
    when = now or dt.datetime.now(dt.UTC)
    with transaction(engine) as session:
        rows = list(session.scalars(
            sa.select(Delivery).join(Document, Delivery.document_id == Document.id)
            .where(Document.campaign == campaign, Delivery.message_id.in_(report.message_ids))
            .order_by(Delivery.id)))
        found = {r.message_id for r in rows}
        if not rows:
            result.skipped.append(_("{source}: {ids} is not a message campaign {campaign} sent").format(
                source=source, ids=", ".join(report.message_ids), campaign=campaign))
            return result
        if len(found) > 1:
            result.skipped.append(_("{source}: names several of our messages ({ids}): contradictory, not "
                                    "applied").format(source=source, ids=", ".join(sorted(found))))
            return result
        if not report.claims:
            result.skipped.append(_("{source}: reports on no recipient we can read").format(source=source))
            return result
        by_address = {r.address: r for r in rows}
        for claim in report.claims:
            row = by_address.get(claim.address) or (by_address.get(claim.also) if claim.also else None)
            if row is None:
                result.skipped.append(_("{source}: {address} is not an address {message_id} was sent to").format(
                    source=source, address=claim.address, message_id=next(iter(found))))
                continue
            if not report.standard and claim.kind != "bounced":
                continue
            if claim.kind not in _TO:
                result.skipped.append(_("{source}: a {kind!r} report for {address} is not acted on (the row stays "
                                        "{status})").format(source=source, kind=claim.kind, address=row.address,
                                                            status=status_word(row.status.value)))
                continue
            target = _TO[claim.kind]
            if row.status is target:
                continue  # read before: nothing new
            if row.status not in _FROM[claim.kind]:
                result.skipped.append(_("{source}: a {kind} report for {address}, whose letter is {status}: not "
                                        "applied").format(source=source, kind=status_word(claim.kind),
                                                          address=row.address, status=status_word(row.status.value)))
                continue
            detail = claim.detail if report.standard else f"non-standard bounce: {claim.detail}"
            row.status = target
            row.report_code = claim.code
            row.report_detail = detail[:2000]
            row.reported_at = when
            if target is S.BOUNCED:
                result.bounced += 1
            code = f" {claim.code}" if claim.code else ""
            result.changed.append(f"{row.unit or '-'} {row.address}: {target.value}{code} ({detail[:160]})")
    return result


def _too_large(source: str, size: int) -> str:
    return _("{source}: {size} MB is larger than any delivery report ({limit} MB at most): not read").format(
        source=source, size=size // (1024 * 1024), limit=reports.MAX_REPORT_BYTES // (1024 * 1024))


def import_files(engine: Engine, lc: LoadedCampaign, paths: Sequence[Path], *,
                 own_domain: str | None = None) -> Applied:
    """``congvan bounces import``: saved reports (.eml), each read once per call; reading the same
    file again changes nothing (a row already moved stays as it is)."""
    total = Applied()
    for path in paths:
        try:
            size = path.stat().st_size
            if size > reports.MAX_REPORT_BYTES:
                total.skipped.append(_too_large(str(path), size))
                continue
            raw = path.read_bytes()
        except OSError as exc:
            total.skipped.append(_("{path}: cannot be read: {error}").format(path=path, error=exc.strerror or exc))
            continue
        total.extend(apply(engine, lc.name, raw, source=str(path), own_domain=own_domain))
    return total


# --- what follows from a bounce -------------------------------------------------------------------


def suppressed(engine: Engine, lc: LoadedCampaign) -> set[str]:
    """Addresses a letter of the campaign bounced at: not written to again by the campaign."""
    with transaction(engine) as session:
        return set(session.scalars(
            sa.select(Delivery.address).join(Document, Delivery.document_id == Document.id)
            .where(Document.campaign == lc.name, Delivery.status == S.BOUNCED)))


def fallback_of(unit: Unit) -> Recipient:
    """Where a unit is reached when its mailbox bounced: ``fallback_email``, else its head."""
    if unit.fallback_email:
        return Recipient(unit.name, unit.fallback_email, "to", unit.code)
    return Recipient(unit.head.name, unit.head.email, "to", unit.code)


def fallback_messages(engine: Engine, lc: LoadedCampaign, document_id: int) -> list[PlannedMessage]:
    """One message per unit whose current mailbox the dispatch bounced at, to its fallback address
    (the same document: the ledger gives it its row once, so it is sent once)."""
    bounced = {r.address for r in dispatch_rows(engine, document_id) if r.status is S.BOUNCED}
    out = []
    for addressee in lc.addressees:
        unit = addressee.unit
        if address_key(unit.email) not in bounced:
            continue  # reached, or units.yaml has a new address, which the dispatch itself serves
        target = fallback_of(unit)
        if address_key(target.address) != address_key(unit.email):
            out.append(PlannedMessage(to=(target,)))
    return out


def reroute(messages: Sequence[PlannedMessage], blocked: set[str], lc: LoadedCampaign) -> list[PlannedMessage]:
    """A follow-up's messages without the addresses the campaign bounced at: a unit's mailbox in To is
    replaced by its fallback, a bounced Cc is dropped."""
    if not blocked:
        return list(messages)
    units = {u.code: u for u in lc.units}
    out = []
    for message in messages:
        to: list[Recipient] = []
        for r in message.to:
            if address_key(r.address) not in blocked:
                to.append(r)
            elif r.unit in units:
                fb = fallback_of(units[r.unit])
                if address_key(fb.address) not in blocked:
                    to.append(fb)
        cc = tuple(r for r in message.cc if address_key(r.address) not in blocked)
        if to:
            out.append(PlannedMessage(to=tuple(to), cc=cc))
    return out


# --- telling the coordinator ------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounce:
    unit: str | None
    address: str
    code: str | None
    detail: str | None
    subject: str  # which letter: "dispatch" or the follow-up's key


def new_bounces(engine: Engine, lc: LoadedCampaign) -> list[tuple[int, Bounce]]:
    """Bounced rows of the campaign the coordinator has not been told about yet."""
    with transaction(engine) as session:
        found = session.execute(
            sa.select(Delivery.id, Delivery.unit, Delivery.address, Delivery.report_code, Delivery.report_detail,
                      Document.key)
            .join(Document, Delivery.document_id == Document.id)
            .where(Document.campaign == lc.name, Delivery.status == S.BOUNCED, Delivery.alerted_at.is_(None))
            .order_by(Delivery.id)).all()
    return [(r[0], Bounce(r[1], r[2], r[3], r[4], r[5].removeprefix(f"{lc.name}/"))) for r in found]


def alert_text(lc: LoadedCampaign, bounces: Sequence[Bounce], *, fallbacks: dict[str, str],
               held: dict[str, str]) -> tuple[str, str, str]:
    """Subject, text and HTML of the coordinator's alert."""
    subject = f"[congvan] {len(bounces)} thư bị trả lại - {lc.name}"
    lines = [f"Chiến dịch {lc.name}: {len(bounces)} thư đã được máy chủ nhận nhưng sau đó bị trả lại (bounce).", ""]
    for b in bounces:
        code = f" {b.code}" if b.code else ""
        lines.append(f"- {b.unit or '-'} {b.address} ({b.subject}):{code} {b.detail or ''}".rstrip())
        if b.unit and b.unit in fallbacks:
            lines.append(f"  Công văn được gửi lại (cùng số) tới địa chỉ dự phòng {fallbacks[b.unit]}.")
        if b.unit and b.unit in held:
            lines.append("  Chưa gửi thư đôn đốc cho đơn vị này: đơn vị chưa nhận được công văn.")
    lines += ["", "Địa chỉ bị trả lại sẽ không được dùng nữa cho đến khi units.yaml ghi địa chỉ mới.",
              f"Xem: congvan status {lc.name}"]
    text = "\n".join(lines) + "\n"
    return subject, text, f"<pre>{html.escape(text)}</pre>\n"


def alert(engine: Engine, lc: LoadedCampaign, config: SmtpConfig, sender: Mailbox, *,
          fallbacks: dict[str, str], held: dict[str, str], message_id_domain: str) -> int:
    """Mail the coordinator (the authority's own mailbox) one alert listing the bounces not yet told;
    mark them told after the server's 250. Returns how many were listed (0: no mail)."""
    pending = new_bounces(engine, lc)
    if not pending:
        return 0
    subject, text, body_html = alert_text(lc, [b for _, b in pending], fallbacks=fallbacks, held=held)
    raw = compose(Outgoing(sender=sender, to=(sender,), subject=subject, text=text, html=body_html,
                           message_id=new_message_id(message_id_domain), labels=MailLabels(ALERT_KIND)))
    with SmtpSession(config, sender.address) as session:
        refused = session.send([sender.address], raw)
    if refused:
        code, reply = next(iter(refused.values()))
        raise SmtpFailure(f"{code} {reply}", temporary=code < 500)
    mark_alerted(engine, [i for i, _ in pending])
    return len(pending)


def mark_alerted(engine: Engine, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        with transaction(engine) as session:
            session.execute(sa.update(Delivery).where(Delivery.id.in_(ids))
                            .values(alerted_at=dt.datetime.now(dt.UTC)))


# --- the reply mailbox --------------------------------------------------------------------------------


def sync_mailbox(engine: Engine, lc: LoadedCampaign, config: ImapConfig, *, own_domain: str | None = None,
                 ) -> Applied:
    """``congvan bounces sync`` and the daily run: read the reply mailbox's new messages, apply the
    reports among them, flag each so it is read once. ``MailboxError`` if the mailbox cannot be used."""
    total = Applied()

    def read(fetched: Fetched) -> bool:
        source = f"{config.folder} UID {fetched.uid}"
        if fetched.raw is None:
            total.skipped.append(_too_large(source, fetched.size))
            return False
        result = apply(engine, lc.name, fetched.raw, source=source, own_domain=own_domain)
        total.extend(result)
        return result.reports > 0  # a report is marked \Seen; anything else stays for the people

    read_new(config, read)
    return total


def alert_context(engine: Engine, lc: LoadedCampaign) -> tuple[dict[str, str], dict[str, str]]:
    """For the alert: each bounced unit's fallback address, and the units held from follow-ups."""
    blocked = suppressed(engine, lc)
    fallbacks = {}
    for addressee in lc.addressees:
        unit = addressee.unit
        if address_key(unit.email) in blocked:
            target = address_key(fallback_of(unit).address)
            if target not in blocked and target != address_key(unit.email):
                fallbacks[unit.code] = target
    return fallbacks, unreached(engine, lc)


# Re-exported: the delivery per unit lives in congvan.unit_delivery, light enough for `status`.
__all__ = ["UnitDelivery", "unit_deliveries", "unreached"]
