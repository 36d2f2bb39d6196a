"""The dispatch, step by step (docs/design.md §1, §8.1): number → render → check → PDF → plan → mail → report.

Each function is one step the dispatch flow runs as a task; none knows about Prefect. The steps
are safe to repeat: the number is allocated once per campaign, the issued document is rendered once
and then reused byte for byte (a unit served by a rerun gets exactly what the others got), and the
ledger decides who still needs the mail.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan import bounces, ledger, nd30, register
from congvan.config import LoadedCampaign
from congvan.documents import dispatch_key, render_dispatch
from congvan.errors import DocumentError, LayoutError
from congvan.i18n import _
from congvan.ledger import DeliveryRow, LedgerMessage
from congvan.mail_bodies import render_bodies
from congvan.mail_compose import Attachment, Mailbox, Outgoing, compose
from congvan.mail_labels import DISPATCH_KIND, MailLabels
from congvan.mail_transport import SmtpConfig, SmtpFailure, SmtpSession, unreachable_error
from congvan.recipients import PlannedMessage, address_key, dispatch_messages
from congvan.register import Allocation
from congvan.register_book import entry_for, register_name
from congvan.results import Delivery as ReportedDelivery
from congvan.results import DispatchResult
from congvan.settings import Settings
from congvan.store.db import transaction
from congvan.store.models import Delivery, DeliveryStatus, Document
from congvan.vndate import short_date

MAIL_TEMPLATE = "dispatch"  # the default of ``mail_templates.dispatch``
# Seconds the preflight waits for the mail server: a server that does not answer a connect in this time is
# reported at once instead of after every retry of every batch.
PREFLIGHT_TIMEOUT = 10.0

# Converts a .docx to a PDF next to it and verifies it carries the given texts; returns the PDF's path.
PdfMaker = Callable[[Path, Sequence[str]], Path]


@dataclass(frozen=True)
class IssuedFiles:
    docx: Path
    pdf: Path | None


def sender(lc: LoadedCampaign, settings: Settings) -> Mailbox:
    """From: the issuing authority's name with the configured sender address."""
    return Mailbox(lc.authority.name, settings.smtp_from or lc.authority.email)


def message_id_domain(lc: LoadedCampaign, settings: Settings) -> str:
    return (settings.smtp_from or lc.authority.email).rpartition("@")[2]


def preflight(config: SmtpConfig, envelope_sender: str, *, need_pdf: bool) -> None:
    """What must hold before anything is numbered or sent.

    LibreOffice must be there when the campaign wants PDFs (``PdfError`` names what to install). The
    mail server is connected and logged in to once, within ``PREFLIGHT_TIMEOUT`` seconds: a server that
    cannot be reached at all (refused, unknown host, no route, no answer to the connect), a refused login
    or an untrusted certificate is a ``MailServerError`` now, with nothing numbered or sent. A server that
    answers but is busy (4xx) or hangs up is not: sending retries it, as it retries a drop mid-batch.
    """
    if need_pdf:
        from congvan.pdf import check_available

        check_available()
    quick = dataclasses.replace(config, timeout=min(config.timeout, PREFLIGHT_TIMEOUT))
    with SmtpSession(quick, envelope_sender) as session:
        try:
            session.connect()
        except SmtpFailure as failure:
            if failure.unreachable:
                raise unreachable_error(config, failure.reason, cause=failure.cause) from None


def check_draft(lc: LoadedCampaign, *, templates_dir: Path, out_dir: Path, planned_on: dt.date) -> Path:
    """Render the letter as a draft and check it, before a number is taken for a letter that could
    not be sent: the layout does not depend on the number."""
    path = render_dispatch(lc, templates_dir=templates_dir, out_dir=out_dir, planned=planned_on)
    check_layout(path)
    return path


def allocate(engine: Engine, lc: LoadedCampaign, issued_on: dt.date) -> Allocation:
    """The dispatch's number in the authority's outgoing register; a rerun gets the same number."""
    return register.allocate(engine, key=dispatch_key(lc.name), register=register_name(lc, "dispatch"),
                             symbol=lc.symbol, issued_on=issued_on, campaign=lc.name, kind="dispatch",
                             entry=entry_for(lc, "dispatch"))


def expected_texts(lc: LoadedCampaign, allocation: Allocation) -> list[str]:
    """What the PDF must say for it to be this letter: its number and the first line of its summary."""
    return [allocation.so_ky_hieu, lc.campaign.summary[0]]


def produce(engine: Engine, lc: LoadedCampaign, allocation: Allocation, *, templates_dir: Path, out_dir: Path,
            make_pdf: PdfMaker | None) -> IssuedFiles:
    """Render, check and convert the issued dispatch once; afterwards reuse the recorded files."""
    return produce_files(
        engine, allocation,
        render=lambda: render_dispatch(lc, templates_dir=templates_dir, out_dir=out_dir, allocation=allocation),
        expected=expected_texts(lc, allocation), make_pdf=make_pdf)


def produce_files(engine: Engine, allocation: Allocation, *, render: Callable[[], Path], expected: Sequence[str],
                  make_pdf: PdfMaker | None) -> IssuedFiles:
    """Render (``render``), check and convert an issued letter once; afterwards reuse the recorded files.

    A letter that breaks Decree 30 raises ``LayoutError`` and is not recorded. If the recorded .docx
    is gone or differs from the recorded hash and someone already has the letter, ``DocumentError``:
    the others must get the same document, not a re-render of changed config.
    """
    with transaction(engine) as session:
        doc = session.get_one(Document, allocation.document_id)
        recorded_docx, recorded_pdf, recorded_sha = doc.docx_path, doc.pdf_path, doc.sha256
    if recorded_docx and recorded_sha and _sha256(Path(recorded_docx)) == recorded_sha:
        pdf = Path(recorded_pdf) if recorded_pdf and Path(recorded_pdf).is_file() else None
        if pdf is None and make_pdf is not None:
            pdf = make_pdf(Path(recorded_docx), expected)
            record_files(engine, allocation.document_id, Path(recorded_docx), pdf)
        return IssuedFiles(Path(recorded_docx), pdf)
    path = render()
    check_layout(path)
    if recorded_sha and _sent_any(engine, allocation.document_id) and _sha256(path) != recorded_sha:
        raise DocumentError(_("{path}: the issued document {number} was already mailed to some recipients and would "
                              "now come out different; restore the recorded file or issue a new letter").format(
            path=path, number=allocation.so_ky_hieu))
    pdf = make_pdf(path, expected) if make_pdf is not None else None
    record_files(engine, allocation.document_id, path, pdf)
    return IssuedFiles(path, pdf)


def check_layout(path: Path, kind: nd30.DocumentKind = "cong_van") -> None:
    """Decree 30 gates every letter: ``LayoutError`` naming the first violation and how many there are."""
    violations = nd30.check(path, kind=kind)
    if violations:
        more = _(" (and {count} more)").format(count=len(violations) - 1) if len(violations) > 1 else ""
        raise LayoutError(_("{path}: breaks Decree 30, not sent: {violation}{more}").format(
            path=path, violation=nd30.format_violation(violations[0]), more=more))


def attachment_name(allocation: Allocation, suffix: str) -> str:
    """What the recipient sees: "Công văn số 05-UBND-KSTTHC ngày 10.02.2023.pdf"."""
    symbol = allocation.symbol.replace("/", "-")
    return f"Công văn số {allocation.number_text}-{symbol} ngày {allocation.issued_on:%d.%m.%Y}{suffix}"


def attachments(lc: LoadedCampaign, allocation: Allocation, files: IssuedFiles) -> list[Attachment]:
    found = {"docx": files.docx, "pdf": files.pdf}
    result = []
    for kind in lc.campaign.attach:
        path = found[kind]
        if path is None:
            continue  # pdf: false
        result.append(Attachment.from_file(path, filename=attachment_name(allocation, path.suffix)))
    return result


def plan(engine: Engine, lc: LoadedCampaign, allocation: Allocation, settings: Settings) -> list[LedgerMessage]:
    """Every message of the dispatch with its ledger rows, and one to the fallback address of each unit
    whose mailbox the dispatch bounced at (``congvan.bounces``): the same document, sent there once."""
    messages = dispatch_messages(lc) + bounces.fallback_messages(engine, lc, allocation.document_id)
    return ledger.plan(engine, allocation.document_id, messages, message_id_domain=message_id_domain(lc, settings))


def fallback_plan(engine: Engine, lc: LoadedCampaign, settings: Settings,
                  ) -> tuple[Allocation, IssuedFiles, list[LedgerMessage]] | None:
    """For the daily run: the issued dispatch, its recorded files and the fallback messages still to
    send (None when there are none). The document is the one recorded, byte for byte."""
    allocation = register.lookup(engine, dispatch_key(lc.name))
    if allocation is None:
        return None
    extra = bounces.fallback_messages(engine, lc, allocation.document_id)
    if not extra:
        return None
    planned = ledger.plan(engine, allocation.document_id, dispatch_messages(lc) + extra,
                          message_id_domain=message_id_domain(lc, settings))
    wanted = {address_key(m.to[0].address) for m in extra}
    todo = [m for m in planned if m.unsent and any(r.address in wanted for r in m.rows)]
    if not todo:
        return None
    with transaction(engine) as session:
        doc = session.get_one(Document, allocation.document_id)
        docx, pdf = doc.docx_path, doc.pdf_path
    if not docx or not Path(docx).is_file():
        raise DocumentError(_("{campaign}: the issued dispatch's file {file} is gone; run congvan dispatch "
                              "{campaign} to resend it to the fallback addresses").format(
            campaign=lc.name, file=docx or _("(none recorded)")))
    files = IssuedFiles(Path(docx), Path(pdf) if pdf and Path(pdf).is_file() else None)
    return allocation, files, todo


def outgoing(lc: LoadedCampaign, allocation: Allocation, message: LedgerMessage, *, from_: Mailbox,
             files: Sequence[Attachment], templates_dir: Path) -> Outgoing:
    addressee = message.planned.to[0]
    text, html = render_bodies(templates_dir, lc.campaign.mail_templates.dispatch, {
        "recipient": addressee.name,
        "authority": lc.authority.name,
        "so_ky_hieu": allocation.so_ky_hieu,
        "ngay": short_date(allocation.issued_on),
        "subject": lc.campaign.subject,
        "attachments": [a.filename for a in files],
        "sender_email": from_.address,
    })
    return Outgoing(sender=from_, to=tuple(Mailbox(r.name, r.address) for r in message.planned.to),
                    cc=tuple(Mailbox(r.name, r.address) for r in message.planned.cc),
                    subject=lc.campaign.subject, text=text, html=html, message_id=message.message_id,
                    attachments=tuple(files), receipt_to=from_ if lc.campaign.read_receipt else None,
                    labels=MailLabels(DISPATCH_KIND, unit=message.planned.unit, number=allocation.so_ky_hieu,
                                      day=allocation.issued_on))


def composer(lc: LoadedCampaign, allocation: Allocation, *, from_: Mailbox, files: Sequence[Attachment],
             templates_dir: Path) -> Callable[[LedgerMessage], bytes]:
    def build(message: LedgerMessage) -> bytes:
        return compose(outgoing(lc, allocation, message, from_=from_, files=files, templates_dir=templates_dir))
    return build


def report(engine: Engine, lc: LoadedCampaign, allocation: Allocation, files: IssuedFiles) -> DispatchResult:
    rows = ledger.deliveries(engine, allocation.document_id)
    return DispatchResult(campaign=lc.name, number=allocation.number_text, symbol=allocation.symbol,
                          issued_on=allocation.issued_on, path=files.docx,
                          deliveries=tuple(delivery_entry(r) for r in rows))


def delivery_entry(row: DeliveryRow) -> ReportedDelivery:
    return ReportedDelivery(unit=row.unit, name=row.display_name, address=row.address, role=row.role,
                            status=row.status.value, message_id=row.message_id, error=row.last_error,
                            attempts=row.attempts)


def dry_run(lc: LoadedCampaign, *, templates_dir: Path, out_dir: Path, planned_on: dt.date) -> DispatchResult:
    """Render the letter as it would be issued (without a number) and list who would get it."""
    path = check_draft(lc, templates_dir=templates_dir, out_dir=out_dir, planned_on=planned_on)
    entries = [ReportedDelivery(unit=r.unit, name=r.name, address=address_key(r.address), role=r.role,
                                status="planned")
               for message in dispatch_messages(lc) for r in message.recipients]
    return DispatchResult(campaign=lc.name, number=None, symbol=lc.symbol, issued_on=planned_on, path=path,
                          deliveries=tuple(entries), dry_run=True)


def batches(messages: Sequence[LedgerMessage], size: int) -> list[list[LedgerMessage]]:
    """Messages still to send, in groups of ``size``: one connection and one task each."""
    todo = [m for m in messages if m.unsent]
    return [todo[i:i + size] for i in range(0, len(todo), size)]


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def record_files(engine: Engine, document_id: int, docx: Path, pdf: Path | None) -> None:
    with transaction(engine) as session:
        session.execute(sa.update(Document).where(Document.id == document_id).values(
            docx_path=str(docx), pdf_path=str(pdf) if pdf else None, sha256=_sha256(docx)))


def _sent_any(engine: Engine, document_id: int) -> bool:
    with transaction(engine) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
            Delivery.document_id == document_id,
            Delivery.status.in_([st for st in DeliveryStatus if st.accepted or st is DeliveryStatus.BOUNCED]))) != 0


__all__ = ["IssuedFiles", "PlannedMessage"]
