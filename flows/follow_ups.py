"""The ladder's follow-ups of one day, made and mailed (the escalation flow's tasks, and the approve flow's).

Submitted to their signer first where the step needs approval (``submit``); then prepared in batches of
``PREPARE_BATCH``: recorded or numbered, rendered and checked, their PDFs converted together (one LibreOffice worker
per core, started while the letters are made) and signed, their deliveries planned; mailed in batches; and each
action's outcome read back from the ledger. A dry run renders each as a draft and records nothing (``rehearse``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from congvan import approvals, escalation, letters
from congvan import compliance as compliance_mod
from congvan import dispatch as dispatch_steps
from congvan.config import LoadedCampaign
from congvan.delivery import RetryPolicy, send_batch
from congvan.documents import drafts_dir
from congvan.errors import CongVanError
from congvan.ledger import LedgerMessage
from congvan.mail import SmtpConfig
from congvan.policy import Action
from congvan.settings import Settings
from congvan.store.db import run_engine
from congvan.store.models import ApprovalStatus
from congvan.workdays import WorkCalendar
from flows.steps import Stopwatch, run, step

# Letters made per task: each batch starts its LibreOffice workers once (about a second), so it is larger
# than a mail batch.
PREPARE_BATCH = 250


@dataclass(frozen=True)
class Assessment:
    compliance: compliance_mod.Compliance
    calendar: WorkCalendar
    actions: tuple[Action, ...]
    resumed: tuple[tuple[Action, dt.date], ...]  # unfinished follow-ups to finish, with their issue date
    day_off: str | None  # why as_of is not a working day
    withheld: tuple[Action, ...] = ()  # due, but the dispatch never reached the unit (congvan.bounces)


def issue(settings: Settings, lc: LoadedCampaign, assessment: Assessment, today: dt.date,
          todo: Sequence[tuple[Action, dt.date]], watch: Stopwatch) -> list[escalation.ActionResult]:
    """Record, number, render, check and convert the letters of ``todo`` in batches, then mail them; the
    caller holds the campaign's lock. An approved letter's approval is marked issued with its record. The
    stages' seconds are added to ``watch``."""
    made: list[escalation.Prepared | escalation.ActionResult] = []
    for i in range(0, len(todo), PREPARE_BATCH):
        batch: Batch = run(prepare, settings, lc, assessment, today, todo[i:i + PREPARE_BATCH])
        made += batch.made
        watch.merge(batch.seconds)
    prepared = [p for p in made if isinstance(p, escalation.Prepared)]
    engine = run_engine(settings.database_url)
    for p in prepared:
        if p.action.step.needs_approval:
            approvals.mark(engine, escalation.document_key(lc, p.action.step, p.action.unit), ApprovalStatus.ISSUED,
                           document_id=p.document_id)
    size = settings.smtp_batch_size
    for i in range(0, len(prepared), size):
        with watch.stage("send"):
            run(send, settings, lc, prepared[i:i + size])
    results = [r for r in made if isinstance(r, escalation.ActionResult)]
    delivered: list[escalation.ActionResult] = run(outcome, settings, prepared)
    return results + delivered


@dataclass(frozen=True)
class Gate:
    """Today's actions after the signer's gate: those to issue now (no approval needed, or approved), and
    those drafted and waiting for a decision or refused (as results)."""

    issue: tuple[Action, ...]
    waiting: tuple[escalation.ActionResult, ...]


@step("submit for approval", retries=2)
def submit(settings: Settings, lc: LoadedCampaign, assessment: Assessment, as_of: dt.date) -> Gate:
    """Each letter due today that needs its signer's approval is drafted, checked and submitted (once: a
    later run refreshes the draft); an approved one is issued, a rejected one never is."""
    from congvan.report import write_report

    engine = run_engine(settings.database_url)
    ctx = escalation.Context(
        engine=engine, lc=lc, compliance=assessment.compliance, calendar=assessment.calendar, as_of=as_of,
        templates_dir=settings.templates_dir, out_dir=drafts_dir(settings.output_dir, lc.name),
        sender=dispatch_steps.sender(lc, settings), message_id_domain=dispatch_steps.message_id_domain(lc, settings),
        write_report=write_report)
    now: list[Action] = []
    waiting: list[escalation.ActionResult] = []
    for action in assessment.actions:
        if not action.step.needs_approval:
            now.append(action)
            continue
        key = escalation.document_key(lc, action.step, action.unit)
        found = approvals.find(engine, key)
        if found is not None and found.status is ApprovalStatus.APPROVED:
            now.append(action)
            continue
        if found is not None and found.status in (ApprovalStatus.REJECTED, ApprovalStatus.ISSUED):
            continue  # refused for good (or already issued): never proposed again for this step
        try:
            draft = escalation.preview(ctx, action)
        except CongVanError as exc:
            waiting.append(_not_sent(action, exc))
            continue
        proposal = approvals.propose(engine, key=key, campaign=lc.name, step=action.step.name,
                                     kind=action.step.kind, unit=action.unit, level=action.level,
                                     signer=letters.signer_of(lc, action.step).name, draft=draft, on=as_of)
        if action.unit is not None:
            approvals.supersede(engine, lc.name, action.unit, action.level)
        unit = letters.unit_of(lc, action.unit) if action.unit else None
        to = [r.address for m in letters.step_messages(lc, action.step, unit) for r in m.to]
        waiting.append(escalation.ActionResult(unit=action.unit, step=action.step.name, kind=action.step.kind,
                                               number=None, to=to, status="awaiting_approval",
                                               files=[proposal.draft] if proposal.draft else []))
    return Gate(issue=tuple(now), waiting=tuple(waiting))


@dataclass(frozen=True)
class Batch:
    """A batch of letters prepared: each ready to send, or reported not sent; and the seconds its stages took."""

    made: list[escalation.Prepared | escalation.ActionResult]
    seconds: dict[str, float]


@step("prepare letters", retries=2)
def prepare(settings: Settings, lc: LoadedCampaign, assessment: Assessment, as_of: dt.date,
            batch: Sequence[tuple[Action, dt.date]]) -> Batch:
    """Record, render and check a batch of actions, convert their PDFs together (one LibreOffice worker
    per core), then plan their deliveries. One that cannot be made (a letter breaking Decree 30, a PDF
    that fails verification) is reported and does not stop the others."""
    watch = Stopwatch()
    from congvan.report import write_report

    base = escalation.Context(
        engine=run_engine(settings.database_url), lc=lc, compliance=assessment.compliance,
        calendar=assessment.calendar, as_of=as_of, templates_dir=settings.templates_dir,
        out_dir=settings.output_dir / "documents" / lc.name, sender=dispatch_steps.sender(lc, settings),
        message_id_domain=dispatch_steps.message_id_domain(lc, settings), write_report=write_report)
    failed: list[escalation.Prepared | escalation.ActionResult] = []
    made: list[tuple[escalation.Made, escalation.Context]] = []
    documents = sum(1 for action, _ in batch if action.step.kind != "mail")  # a mail step makes no PDF
    with _Converter(lc, documents) as converter:  # LibreOffice starts while the letters are made
        with watch.stage("record, render, check"):
            for action, issued_on in batch:
                ctx = replace(base, as_of=issued_on)
                try:
                    made.append((escalation.make(ctx, action), ctx))
                except CongVanError as exc:
                    failed.append(_not_sent(action, exc))
        with watch.stage("pdf"):
            pdfs, errors, last_pages = _convert(lc, [m for m, _ in made], converter, watch,
                                                for_signing=settings.signing_keys is not None)
            made = [(_with_annex(m, errors, converter), ctx) for m, ctx in made]
    with watch.stage("sign"):
        _sign(settings, lc, [m for m, _ in made], pdfs, errors, last_pages)
    out = failed
    with watch.stage("plan deliveries"):
        out += _finish_all(made, pdfs, errors)
    return Batch(out, watch.seconds)


def _with_annex(made: escalation.Made, errors: dict[int, CongVanError], converter: _Converter) -> escalation.Made:
    """The report's list of officials converted to its own PDF, attached after the report's files."""
    if made.annex is None or made.document_id in errors:
        return made
    from congvan.report_annex import ANNEX_TITLE

    pdf = made.annex.with_suffix(".pdf")
    try:
        converter.ready().convert(made.annex, pdf, expect_text=[ANNEX_TITLE])
    except CongVanError as exc:
        errors[made.document_id] = exc
        return made
    return replace(made, others=(*made.others, pdf))


def _sign(settings: Settings, lc: LoadedCampaign, made: Sequence[escalation.Made], pdfs: dict[int, Any],
          errors: dict[int, CongVanError], last_pages: dict[int, Any]) -> None:
    """With signing on (CONGVAN_SIGNING_KEYS), each numbered letter's PDF gets its signer's signature and the
    organisation's, a separate attachment the organisation's, each verified; one that fails is not sent. A
    letter's last page laid out by the PDF stage goes with it (used only if the PDF's bytes are still those)."""
    from congvan.signoff import SignJob, sign_many, signoff_for

    signoff = signoff_for(settings, lc)
    if signoff is None:
        return
    jobs = [SignJob(m.document_id, pdf, m.action.step.signer or lc.campaign.signer, m.number,
                    tuple(p for p in m.others if p.suffix == ".pdf"), last_pages.get(m.document_id))
            for m in made if m.document_id not in errors and m.number is not None
            and (pdf := pdfs.get(m.document_id, m.pdf)) is not None]
    with signoff:
        errors.update(sign_many(signoff, jobs))


def _finish_all(made: Sequence[tuple[escalation.Made, escalation.Context]], pdfs: dict[int, Any],
                errors: dict[int, CongVanError]) -> list[escalation.Prepared | escalation.ActionResult]:
    out: list[escalation.Prepared | escalation.ActionResult] = []
    for m, ctx in made:
        if m.document_id in errors:
            out.append(_not_sent(m.action, errors[m.document_id]))
            continue
        try:
            out.append(escalation.finish(ctx, m, pdfs.get(m.document_id, m.pdf)))
        except CongVanError as exc:
            out.append(_not_sent(m.action, exc))
    return out


class _Converter:
    """The process's PDF converter (congvan.pdf.shared), borrowed in the background for a batch when the campaign
    makes PDFs, so a LibreOffice's start-up (a second or more, if none is warm) overlaps with recording,
    rendering and checking the letters."""

    def __init__(self, lc: LoadedCampaign, letters: int) -> None:
        self._stack = contextlib.ExitStack()
        self._starting: Future[Any] | None = None
        if lc.campaign.pdf and letters:
            from congvan.pdf import default_workers, lent

            self._starter = ThreadPoolExecutor(1, thread_name_prefix="congvan-pdf-start")
            self._starting = self._starter.submit(self._stack.enter_context, lent(first=min(default_workers(),
                                                                                               letters)))

    def __enter__(self) -> _Converter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._starting is not None:
            with contextlib.suppress(Exception):  # a failed start was reported by ready(), or never needed
                self._starting.result()
            self._starter.shutdown()
            self._stack.close()

    def ready(self) -> Any:
        """The started ``PdfConverter``; its start's ``PdfError`` (LibreOffice missing, not answering) raised."""
        assert self._starting is not None, "the campaign makes no PDF"
        return self._starting.result()


def _convert(lc: LoadedCampaign, made: Sequence[escalation.Made], converter: _Converter, watch: Stopwatch, *,
             for_signing: bool) -> tuple[dict[int, Any], dict[int, CongVanError], dict[int, Any]]:
    """The PDFs of the documents that need one, converted together; the errors; and, for signing, the last
    pages laid out where the conversion read them anyway; each by document id."""
    todo = [m for m in made if m.docx is not None and m.pdf is None] if lc.campaign.pdf else []
    if not todo:
        return {}, {}, {}
    from congvan.pdf import PdfJob

    # Letters of one step share a template: joined in groups, converted once per group, split per letter
    # (congvan.pdf.joined); each letter's PDF is still verified. Kept in step order so groups do not mix.
    todo = sorted(todo, key=lambda m: m.action.level)
    jobs = [PdfJob(m.docx, m.docx.with_suffix(".pdf"), m.expected,
                   first_page=f"Số: {m.number}" if m.number else None, last_page_layout=for_signing)
            for m in todo if m.docx is not None]
    pool = converter.ready()
    joined, fallbacks = pool.joined_groups, pool.joined_fallbacks
    results = pool.convert_joined(jobs)
    for key, count in (("pdf groups joined (count)", pool.joined_groups - joined),
                       ("pdf groups one by one (count)", pool.joined_fallbacks - fallbacks)):
        watch.add(key, count)
    pdfs: dict[int, Any] = {}
    errors: dict[int, CongVanError] = {}
    last_pages: dict[int, Any] = {}
    for m, result in zip(todo, results, strict=True):
        if result.ok:
            pdfs[m.document_id] = result.job.pdf
            if result.last_page is not None:
                last_pages[m.document_id] = result.last_page
        else:
            assert result.error is not None
            errors[m.document_id] = result.error
    return pdfs, errors, last_pages


def _not_sent(action: Action, exc: CongVanError) -> escalation.ActionResult:
    return escalation.ActionResult(unit=action.unit, step=action.step.name, kind=action.step.kind, number=None,
                                   to=[], status="not_sent", error=str(exc))


@step("dry run")
def rehearse(settings: Settings, lc: LoadedCampaign, assessment: Assessment, as_of: dt.date,
             todo: Sequence[tuple[Action, dt.date]]) -> list[escalation.ActionResult]:
    """What would go today: each letter rendered as a draft to read (and checked), nothing recorded."""
    ctx = escalation.Context(
        engine=run_engine(settings.database_url), lc=lc, compliance=assessment.compliance,
        calendar=assessment.calendar, as_of=as_of, templates_dir=settings.templates_dir,
        out_dir=drafts_dir(settings.output_dir, lc.name, dry_run=True), sender=dispatch_steps.sender(lc, settings),
        message_id_domain=dispatch_steps.message_id_domain(lc, settings))
    out = []
    for action, _ in todo:
        unit = letters.unit_of(lc, action.unit) if action.unit else None
        to = [r.address for m in letters.step_messages(lc, action.step, unit) for r in m.to]
        try:
            draft = escalation.preview(ctx, action)
        except CongVanError as exc:
            out.append(_not_sent(action, exc))
            continue
        out.append(escalation.ActionResult(unit=action.unit, step=action.step.name, kind=action.step.kind,
                                           number=None, to=to, status="planned",
                                           files=[str(draft)] if draft else []))
    return out


@step("send batch", retries=2)
def send(settings: Settings, lc: LoadedCampaign, batch: Sequence[escalation.Prepared]) -> None:
    composers = {m.message_id: p.compose for p in batch for m in p.messages}
    messages = [m for p in batch for m in p.messages]

    def build(message: LedgerMessage) -> bytes:
        return composers[message.message_id](message)

    send_batch(run_engine(settings.database_url), SmtpConfig.from_settings(settings),
               dispatch_steps.sender(lc, settings).address, messages, build,
               retry=RetryPolicy(settings.smtp_attempts, settings.smtp_backoff))


@step("report", retries=2)
def outcome(settings: Settings, prepared: Sequence[escalation.Prepared]) -> list[escalation.ActionResult]:
    from congvan.ledger import deliveries

    engine = run_engine(settings.database_url)
    results = []
    for p in prepared:
        # Only the addresses the letter goes to now: a 550 at an address since corrected is history.
        current = {row.address for m in p.messages for row in m.rows}
        results.append(escalation.result_of(p, [r for r in deliveries(engine, p.document_id) if r.address in current]))
    return results
