"""One day of follow-up (docs/design.md §1.1, §8.2): what the ladder says today, made into records, documents and mails.

The policy (``congvan.policy``) decides; this module gives each decision a record before anything
leaves: a numbered letter (register), a plain mail or a report, rendered and checked, then one ledger
row per address. A step counts as taken once its deliveries are planned, so a second run the same
day plans nothing new and only finishes what is still unsent (``unfinished``). A letter that fails
its Decree-30 check is checked as a draft first, so it stops without taking a number, and the
other units' letters go on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan import bounces, ledger, register
from congvan.compliance import Compliance
from congvan.config import LadderStep, LoadedCampaign, Unit
from congvan.dispatch import IssuedFiles, check_layout, produce_files, record_files
from congvan.documents import dispatch_key
from congvan.errors import CongVanError, NotIssuedError
from congvan.i18n import _
from congvan.ledger import LedgerMessage
from congvan.letters import (
    Citation,
    letter_context,
    letter_filename,
    letter_template,
    reminder_context,
    step_messages,
    step_subject,
    unit_of,
)
from congvan.mail_bodies import render_bodies
from congvan.mail_compose import Attachment, Mailbox, Outgoing, compose
from congvan.mail_labels import MailLabels
from congvan.policy import Action
from congvan.recipients import address_key
from congvan.register_book import entry_for, register_name
from congvan.render import load_template
from congvan.store.db import transaction
from congvan.store.models import Delivery, DeliveryStatus, Document
from congvan.taken import FOLLOW_UP_KINDS
from congvan.taken import history as history  # re-exported: escalation.history
from congvan.vndate import short_date
from congvan.workdays import WorkCalendar

LETTER_MAIL = "letter"  # templates/mail/letter.txt|.html: the covering mail of a numbered letter
REPORT_MAIL = "report"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Prepared:
    """A step made ready to send: its record, files and ledger messages, and how to write its mail."""

    action: Action
    document_id: int
    number: str | None  # "05/UBND-KSTTHC" for a letter or report; None for a plain mail
    files: tuple[Path, ...]
    messages: tuple[LedgerMessage, ...]
    compose: Callable[[LedgerMessage], bytes]


@dataclass
class ActionResult:
    unit: str | None
    step: str
    kind: str
    number: str | None
    to: list[str]
    status: str  # planned | sent | failed | pending | not_sent (the letter could not be made)
    error: str | None = None
    files: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "step": self.step, "kind": self.kind, "number": self.number, "to": self.to,
                "status": self.status}


def document_key(lc: LoadedCampaign, step: LadderStep, unit: str | None) -> str:
    return f"{lc.name}/{step.name}/{unit or 'ALL'}"


def dispatch_citation(engine: Engine, lc: LoadedCampaign) -> Citation:
    """The dispatch every follow-up cites; ``NotIssuedError`` (a user error) before it is issued."""
    try:
        allocation = register.issued(engine, dispatch_key(lc.name))
    except NotIssuedError:
        raise NotIssuedError(_("{campaign}: the dispatch has not been issued yet; run congvan dispatch {campaign} "
                               "first").format(campaign=lc.name)) from None
    return Citation(allocation.so_ky_hieu, allocation.issued_on)


def unfinished(engine: Engine, lc: LoadedCampaign) -> list[tuple[int, str | None, int, dt.date]]:
    """Follow-ups recorded but not yet sent to everyone: (document id, unit, level, issued on)."""
    retryable = [s for s in DeliveryStatus if s.retryable]
    with transaction(engine) as session:
        rows = session.execute(
            sa.select(Document.id, Document.unit, Document.level, Document.issued_on).where(
                Document.campaign == lc.name, Document.kind.in_(FOLLOW_UP_KINDS),
                sa.exists().where(Delivery.document_id == Document.id, Delivery.status.in_(retryable)))
            .order_by(Document.id))
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def rerouted(engine: Engine, lc: LoadedCampaign) -> list[tuple[int, str | None, int, dt.date]]:
    """Follow-ups refused for good (5xx) at an address the config has since changed: the new address has
    no row yet, so the letter is sent again to it (the dispatch does the same on a rerun)."""
    ladder = lc.campaign.follow_up.ladder if lc.campaign.follow_up else []
    with transaction(engine) as session:
        docs = session.execute(
            sa.select(Document.id, Document.unit, Document.level, Document.issued_on).where(
                Document.campaign == lc.name, Document.kind.in_(FOLLOW_UP_KINDS),
                sa.exists().where(Delivery.document_id == Document.id,
                                  Delivery.status == DeliveryStatus.FAILED_PERMANENT))
            .order_by(Document.id)).all()
    found = []
    for document_id, unit, level, issued_on in docs:
        if not 1 <= level <= len(ladder):
            continue
        unit_config = unit_of(lc, unit) if unit and any(u.code == unit for u in lc.units) else None
        wanted = {address_key(r.address)
                  for m in step_messages(lc, ladder[level - 1], unit_config) for r in m.recipients}
        known = {d.address for d in ledger.deliveries(engine, document_id)}
        if wanted - known:
            found.append((document_id, unit, level, issued_on))
    return found


def resumable(engine: Engine, lc: LoadedCampaign, state: Compliance, actions: Sequence[Action],
               as_of: dt.date) -> list[tuple[Action, dt.date]]:
    """Follow-ups recorded earlier but not sent to everyone, still worth sending: the unit has not
    complied since, the campaign is open, and today's run does not send it a higher step anyway."""
    follow_up = lc.campaign.follow_up
    assert follow_up is not None
    if follow_up.closes is not None and as_of > follow_up.closes:
        return []
    higher = {a.unit: a.level for a in actions}
    compliant = {u.code for u in state.units if u.compliant}
    found = []
    pending = unfinished(engine, lc)
    pending += [r for r in rerouted(engine, lc) if r[0] not in {p[0] for p in pending}]
    for _key, unit, level, issued_on in pending:
        if unit in compliant or higher.get(unit, 0) > level or not 1 <= level <= len(follow_up.ladder):
            continue
        found.append((Action(unit, follow_up.ladder[level - 1], level, issued_on), issued_on))
    return found


def thread(engine: Engine, lc: LoadedCampaign, unit: str | None) -> list[str]:
    """Message-IDs this unit has had from the campaign, oldest first: the dispatch, then each follow-up."""
    if unit is None:
        return []
    with transaction(engine) as session:
        rows = session.execute(
            sa.select(Delivery.message_id, Document.id).join(Document, Delivery.document_id == Document.id)
            .where(Document.campaign == lc.name, Delivery.unit == unit,
                   Delivery.status.in_([s for s in DeliveryStatus if s.accepted]))
            .order_by(Document.id, Delivery.id))
        seen: list[str] = []
        for message_id, _ in rows:
            if message_id not in seen:
                seen.append(message_id)
        return seen


def previous_letter(engine: Engine, lc: LoadedCampaign, unit: str, below_level: int) -> Citation | None:
    """The last numbered letter sent to the unit before this level, to cite after the dispatch."""
    with transaction(engine) as session:
        doc = session.scalars(
            sa.select(Document).where(Document.campaign == lc.name, Document.unit == unit,
                                      Document.kind == "letter", Document.level < below_level,
                                      Document.number.is_not(None))
            .order_by(Document.level.desc())).first()
        if doc is None or doc.number is None or doc.symbol is None:
            return None
        return Citation(f"{register.format_number(doc.number)}/{doc.symbol}", doc.issued_on)


@dataclass(frozen=True)
class Context:
    """What every step of one run shares."""

    engine: Engine
    lc: LoadedCampaign
    compliance: Compliance
    calendar: WorkCalendar
    as_of: dt.date
    templates_dir: Path
    out_dir: Path
    sender: Mailbox
    message_id_domain: str
    write_report: Callable[..., Any] | None = None  # congvan.report.write_report, when a ladder has a report


@dataclass(frozen=True)
class Made:
    """A step's record and documents, before its PDF and its ledger rows."""

    action: Action
    document_id: int
    number: str | None
    docx: Path | None  # the letter or report, to convert
    pdf: Path | None  # already converted (a rerun)
    others: tuple[Path, ...]  # attached after the document (the report's .xlsx)
    expected: tuple[str, ...]  # what its PDF must say
    annex: Path | None = None  # a separate attachment file to convert and sign (the report's list of officials)


def make(ctx: Context, action: Action) -> Made:
    """Record the step (a number for a letter or report) and render and check its document; the PDF is
    left to the caller, which converts a whole batch at once. ``CongVanError`` if it cannot be made."""
    step = action.step
    unit = unit_of(ctx.lc, action.unit) if action.unit else None
    key = document_key(ctx.lc, step, action.unit)
    if step.kind == "mail":
        assert unit is not None
        record = register.record_unnumbered(ctx.engine, key=key, campaign=ctx.lc.name, kind="mail", unit=unit.code,
                                            level=action.level, issued_on=ctx.as_of)
        return Made(action, record.document_id, None, None, None, (), ())
    if step.kind == "letter":
        assert unit is not None
        return _letter(ctx, action, unit, key, dispatch_citation(ctx.engine, ctx.lc))
    return _report(ctx, action, key)


def preview(ctx: Context, action: Action) -> Path | None:
    """The letter as it would go today, as a draft (no number taken, nothing recorded), for a dry run."""
    step = action.step
    if step.kind == "report" and ctx.write_report is not None:
        dispatch = register.issued(ctx.engine, dispatch_key(ctx.lc.name))
        return Path(ctx.write_report(ctx.lc, ctx.compliance, templates_dir=ctx.templates_dir,
                                     out_dir=ctx.out_dir / "reports", dispatch=dispatch, signer=step.signer,
                                     planned=ctx.as_of, template=step.template).docx)
    if step.kind != "letter" or action.unit is None:
        return None
    unit = unit_of(ctx.lc, action.unit)
    template = load_template(letter_template(ctx.templates_dir, ctx.lc, step))
    context = letter_context(ctx.lc, step, unit, ctx.compliance.unit(unit.code),
                             dispatch=dispatch_citation(ctx.engine, ctx.lc),
                             previous=previous_letter(ctx.engine, ctx.lc, unit.code, action.level), allocation=None,
                             as_of=ctx.as_of, new_deadline=ctx.calendar.add_working_days(ctx.as_of, step.extend))
    path = template.render_to(context, ctx.out_dir / letter_filename(ctx.lc, step, unit.code, None))
    check_layout(path)
    return path


def finish(ctx: Context, made: Made, pdf: Path | None) -> Prepared:
    """Record the PDF, give every address its ledger row, and say how to write the mail."""
    action, step = made.action, made.action.step
    unit = unit_of(ctx.lc, action.unit) if action.unit else None
    if pdf is not None and made.docx is not None and pdf != made.pdf:
        record_files(ctx.engine, made.document_id, made.docx, pdf)
    # The PDF is the document (signed, when signing is on); the editable .docx goes only where the campaign
    # asks for it, or when there is no PDF.
    files = [pdf] if pdf is not None else []
    if made.docx is not None and (pdf is None or "docx" in ctx.lc.campaign.attach):
        files.append(made.docx)
    files += list(made.others)
    dispatch = dispatch_citation(ctx.engine, ctx.lc)
    # An address the campaign bounced at is not written to again (the unit's fallback instead).
    messages = bounces.reroute(step_messages(ctx.lc, step, unit), bounces.suppressed(ctx.engine, ctx.lc), ctx.lc)
    planned = ledger.plan(ctx.engine, made.document_id, messages, message_id_domain=ctx.message_id_domain)
    references = thread(ctx.engine, ctx.lc, action.unit)
    attachments = [Attachment.from_file(p, filename=_attachment_name(made.number, step, p)) for p in files]

    def build(message: LedgerMessage) -> bytes:
        text, html = _bodies(ctx, action, unit, message, made.number, dispatch, [a.filename for a in attachments])
        to = tuple(Mailbox(r.name, r.address) for r in message.planned.to)
        cc = tuple(Mailbox(r.name, r.address) for r in message.planned.cc)
        refs = tuple(r for r in references if r != message.message_id)
        return compose(Outgoing(sender=ctx.sender, to=to, cc=cc, subject=step_subject(ctx.lc, step), text=text,
                                html=html, message_id=message.message_id, attachments=tuple(attachments),
                                in_reply_to=refs[-1] if refs else None, references=refs,
                                labels=MailLabels(step.name, unit=action.unit, number=made.number, day=ctx.as_of)))

    return Prepared(action=action, document_id=made.document_id, number=made.number, files=tuple(files),
                    messages=tuple(planned), compose=build)


def _letter(ctx: Context, action: Action, unit: Unit, key: str, dispatch: Citation) -> Made:
    step, lc = action.step, ctx.lc
    template = load_template(letter_template(ctx.templates_dir, lc, step))
    new_deadline = ctx.calendar.add_working_days(ctx.as_of, step.extend)
    uc = ctx.compliance.unit(unit.code)
    previous = previous_letter(ctx.engine, lc, unit.code, action.level)
    out = ctx.out_dir / "letters"

    def context(allocation: register.Allocation | None) -> dict[str, Any]:
        return letter_context(lc, step, unit, uc, dispatch=dispatch, previous=previous, allocation=allocation,
                              as_of=ctx.as_of, new_deadline=new_deadline)

    existing = register.lookup(ctx.engine, key)
    if existing is None:  # check the draft before taking a number for a letter that could not be sent
        check_layout(template.render_to(context(None), out / "drafts" / letter_filename(lc, step, unit.code, None)))
    allocation = existing or register.allocate(ctx.engine, key=key, register=register_name(lc, "letter"),
                                               symbol=lc.symbol, issued_on=ctx.as_of, campaign=lc.name,
                                               kind="letter", unit=unit.code, level=action.level,
                                               entry=entry_for(lc, "letter", action.level))
    issued: IssuedFiles = produce_files(
        ctx.engine, allocation,
        render=lambda: template.render_to(context(allocation),
                                          out / letter_filename(lc, step, unit.code, allocation)),
        expected=[], make_pdf=None)
    return Made(action, allocation.document_id, allocation.so_ky_hieu, issued.docx, issued.pdf, (),
                (allocation.so_ky_hieu, unit.head.title))


def _report(ctx: Context, action: Action, key: str) -> Made:
    if ctx.write_report is None:
        raise CongVanError(_("the ladder has a report step but the report writer is not available"))
    from congvan.report import report_symbol

    lc = ctx.lc
    allocation = register.lookup(ctx.engine, key) or register.allocate(
        ctx.engine, key=key, register=register_name(lc, "report"), symbol=report_symbol(lc), issued_on=ctx.as_of,
        campaign=lc.name, kind="report", unit=None, level=action.level, entry=entry_for(lc, "report", action.level))
    dispatch_allocation = register.issued(ctx.engine, dispatch_key(lc.name))
    written = ctx.write_report(lc, ctx.compliance, templates_dir=ctx.templates_dir, out_dir=ctx.out_dir / "reports",
                               allocation=allocation, dispatch=dispatch_allocation, signer=action.step.signer,
                               template=action.step.template,
                               receipts={c: d.status for c, d in bounces.unit_deliveries(ctx.engine, lc).items()})
    check_layout(written.docx, kind="bao_cao")
    annex = None
    if lc.campaign.pdf:  # the list of officials as its own file, which the organisation signs (Decree 30)
        from congvan.report_annex import write_annex

        annex = write_annex(ctx.compliance, written.docx.with_name(f"{written.docx.stem}_danh-sach.docx"))
    return Made(action, allocation.document_id, allocation.so_ky_hieu, written.docx, None, (written.xlsx,),
                (allocation.so_ky_hieu,), annex)


def _attachment_name(number: str | None, step: LadderStep, path: Path) -> str:
    kind = {".xlsx": "Số liệu", ".docx": "Công văn", ".pdf": "Công văn"}.get(path.suffix, "Tệp")
    if step.kind == "report" and path.suffix != ".xlsx":
        kind = "Danh sách kèm theo Báo cáo" if path.stem.endswith("_danh-sach") else "Báo cáo"
    if number is None:
        return f"{kind}{path.suffix}"
    return f"{kind} số {number.replace('/', '-')}{path.suffix}"


def _bodies(ctx: Context, action: Action, unit: Unit | None, message: LedgerMessage, number: str | None,
            dispatch: Citation, attachments: list[str]) -> tuple[str, str]:
    step, lc = action.step, ctx.lc
    addressee = message.planned.to[0]
    if step.kind == "mail":
        assert unit is not None
        context = reminder_context(lc, unit, ctx.compliance.unit(unit.code), dispatch=dispatch, as_of=ctx.as_of,
                                   sender_email=ctx.sender.address)
        return render_bodies(ctx.templates_dir, step.template.removesuffix(".txt"), context)
    context = {
        "recipient": unit.head.title if unit is not None and step.to == "head" else addressee.name,
        "authority": lc.authority.name,
        "so_ky_hieu": number,
        "ngay": short_date(ctx.as_of),
        "subject": step_subject(lc, step),
        "cv_goc": dispatch.so_ky_hieu,
        "ngay_cv_goc": short_date(dispatch.issued_on),
        "attachments": attachments,
        "sender_email": ctx.sender.address,
    }
    names = ctx.lc.campaign.mail_templates
    return render_bodies(ctx.templates_dir, names.report if step.kind == "report" else names.letter, context)


def result_of(prepared: Prepared, rows: Sequence[ledger.DeliveryRow]) -> ActionResult:
    action = prepared.action
    statuses = {r.status for r in rows}
    if statuses == {DeliveryStatus.SENT}:
        status = "sent"
    elif DeliveryStatus.FAILED_PERMANENT in statuses and not any(s.retryable for s in statuses):
        status = "failed"
    else:
        status = "pending" if statuses else "not_sent"
    errors = sorted({r.last_error for r in rows if r.last_error and r.status is not DeliveryStatus.SENT})
    return ActionResult(unit=action.unit, step=action.step.name, kind=action.step.kind, number=prepared.number,
                        to=[r.address for r in rows if r.role == "to"], status=status,
                        error="; ".join(errors) or None, files=[str(p) for p in prepared.files])
