"""The daily escalation flow: import new exports → compliance → the ladder's actions for today →
record, render, check, PDF each letter → mail in batches → publish a table of the letters sent.

Scheduled by ``congvan serve`` (cron ``0 8 * * 1-5`` in Asia/Ho_Chi_Minh) or a worker (``prefect.yaml``);
on a day that is not a working day in Vietnam it does nothing. ``congvan escalate`` runs it by hand.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Failed

from congvan import approvals, bounces, escalation, letters, policy, roster
from congvan import compliance as compliance_mod
from congvan import dispatch as dispatch_steps
from congvan.config import LoadedCampaign
from congvan.delivery import RetryPolicy, send_batch
from congvan.documents import drafts_dir
from congvan.errors import CongVanError, StoreError
from congvan.ledger import LedgerMessage
from congvan.mail import SmtpConfig, SmtpFailure
from congvan.policy import Action
from congvan.results import ComplianceSummary, DeliveryTruth, EscalationResult, Fallback
from congvan.settings import Settings
from congvan.store.db import campaign_lock, init_db, make_engine
from congvan.store.models import ApprovalStatus
from congvan.validation import validate_campaign
from congvan.workdays import WorkCalendar
from flows.steps import StepFailed, Stopwatch, UserError, artifact_key, flow_settings, publish_pending, run, step

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


@step("validate")
def validate(settings: Settings, campaign: str) -> LoadedCampaign:
    lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
    lc.require_follow_up()
    return lc


@step("import new exports", retries=2)
def import_exports(settings: Settings, lc: LoadedCampaign) -> list[str]:
    folder = roster.responses_dir(settings.config_dir, lc)
    if folder is None:
        return []
    if not folder.is_dir():
        get_run_logger().warning("The exports folder %s does not exist: no new responses imported", folder)
        return []
    engine = make_engine(settings.database_url)
    init_db(engine)
    reports = roster.import_new_exports(engine, lc, folder)
    for report in reports:
        # A rejected export is retried on the next run; today's letters go on with what is known.
        for line in (*report.errors, *report.warnings):
            get_run_logger().warning("%s", line)
    return [r.summary() for r in reports]


@step("assess", retries=2)
def assess(settings: Settings, lc: LoadedCampaign, as_of: dt.date) -> Assessment:
    follow_up = lc.campaign.follow_up
    assert follow_up is not None
    engine = make_engine(settings.database_url)
    init_db(engine)
    escalation.dispatch_citation(engine, lc)  # a clear error if the dispatch was never issued
    calendar = WorkCalendar(follow_up.calendar)
    state = compliance_mod.compute(engine, lc, as_of)
    if state.required == 0:
        # Every unit would count as compliant and nothing would ever be sent: say so instead.
        raise CongVanError(f"{lc.name}: no roster imported yet: nobody must answer, so nothing can be "
                           f"followed up; run congvan roster import {lc.name}")
    actions = policy.plan(follow_up, state, escalation.history(engine, lc), as_of, calendar)
    return Assessment(compliance=state, calendar=calendar, actions=tuple(actions),
                      resumed=tuple(escalation.resumable(engine, lc, state, actions, as_of)),
                      day_off=calendar.reason_off(as_of))


@step("read the reply mailbox", retries=2)
def read_mailbox(settings: Settings, lc: LoadedCampaign) -> list[str]:
    """Delivery reports and read receipts from the reply mailbox (CONGVAN_IMAP_*), applied to the ledger.
    A mailbox that cannot be read is a warning: today's letters still go, with what is known."""
    from congvan.errors import MailboxError
    from congvan.imap import ImapConfig

    if not settings.imap_host:
        return []
    engine = make_engine(settings.database_url)
    try:
        applied = bounces.sync_mailbox(engine, lc, ImapConfig.from_settings(settings),
                                       own_domain=dispatch_steps.message_id_domain(lc, settings))
    except MailboxError as exc:
        get_run_logger().warning("Bounces not read: %s", exc)
        return [f"bounces not read: {exc}"]
    for line in applied.skipped:
        get_run_logger().warning("Report skipped: %s", line)
    return applied.changed


@step("resend the dispatch to fallback addresses", retries=2)
def resend_fallbacks(settings: Settings, lc: LoadedCampaign) -> list[Fallback]:
    """A unit whose dispatch bounced gets the same document once at its fallback address."""
    engine = make_engine(settings.database_url)
    found = dispatch_steps.fallback_plan(engine, lc, settings)
    if found is None:
        return []
    allocation, files, todo = found
    from_ = dispatch_steps.sender(lc, settings)
    build = dispatch_steps.composer(lc, allocation, from_=from_,
                                    files=dispatch_steps.attachments(lc, allocation, files),
                                    templates_dir=settings.templates_dir)
    outcomes = send_batch(engine, SmtpConfig.from_settings(settings), from_.address, todo, build,
                          retry=RetryPolicy(settings.smtp_attempts, settings.smtp_backoff))
    return [Fallback(unit=o.row.unit, address=o.row.address, status=o.status.value, error=o.error) for o in outcomes]


@step("alert the coordinator", retries=2)
def alert_bounces(settings: Settings, lc: LoadedCampaign) -> int:
    """One mail per run to the authority's mailbox listing the bounces not told yet."""
    engine = make_engine(settings.database_url)
    fallbacks, held = bounces.alert_context(engine, lc)
    try:
        return bounces.alert(engine, lc, SmtpConfig.from_settings(settings), dispatch_steps.sender(lc, settings),
                             fallbacks=fallbacks, held=held,
                             message_id_domain=dispatch_steps.message_id_domain(lc, settings))
    except SmtpFailure as exc:
        get_run_logger().warning("The bounce alert was not sent (the next run tries again): %s", exc.reason)
        return 0


@step("preflight")
def preflight(settings: Settings, lc: LoadedCampaign) -> None:
    dispatch_steps.preflight(SmtpConfig.from_settings(settings), dispatch_steps.sender(lc, settings).address,
                             need_pdf=lc.campaign.pdf)
    from congvan.signoff import signer_keys, signoff_for

    signoff = signoff_for(settings, lc)
    if signoff is not None:
        signoff.preflight(signer_keys(lc))


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
        engine=make_engine(settings.database_url), lc=lc, compliance=assessment.compliance,
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
            pdfs, errors = _convert(lc, [m for m, _ in made], converter, watch)
            made = [(_with_annex(m, errors, converter), ctx) for m, ctx in made]
    with watch.stage("sign"):
        _sign(settings, lc, [m for m, _ in made], pdfs, errors)
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
          errors: dict[int, CongVanError]) -> None:
    """With signing on (CONGVAN_SIGNING_KEYS), each numbered letter's PDF gets its signer's signature and the
    organisation's, a separate attachment the organisation's, each verified; one that fails is not sent."""
    from congvan.signoff import SignJob, sign_many, signoff_for

    signoff = signoff_for(settings, lc)
    if signoff is None:
        return
    jobs = [SignJob(m.document_id, pdf, m.action.step.signer or lc.campaign.signer, m.number,
                    tuple(p for p in m.others if p.suffix == ".pdf"))
            for m in made if m.document_id not in errors and m.number is not None
            and (pdf := pdfs.get(m.document_id, m.pdf)) is not None]
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
    """A PDF converter started in the background for a batch (when the campaign makes PDFs), so LibreOffice's
    start-up (a second or more per worker) overlaps with recording, rendering and checking the letters."""

    def __init__(self, lc: LoadedCampaign, letters: int) -> None:
        self._converter: Any = None
        self._starting: Future[None] | None = None
        if lc.campaign.pdf and letters:
            from congvan.pdf import PdfConverter, default_workers

            self._converter = PdfConverter(workers=min(default_workers(), letters))
            self._starter = ThreadPoolExecutor(1, thread_name_prefix="congvan-pdf-start")
            self._starting = self._starter.submit(self._converter.start)

    def __enter__(self) -> _Converter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._starting is not None:
            with contextlib.suppress(Exception):  # a failed start was reported by ready(), or never needed
                self._starting.result()
            self._starter.shutdown()
            self._converter.close()

    def ready(self) -> Any:
        """The started ``PdfConverter``; its start's ``PdfError`` (LibreOffice missing, not answering) raised."""
        assert self._starting is not None, "the campaign makes no PDF"
        self._starting.result()
        return self._converter


def _convert(lc: LoadedCampaign, made: Sequence[escalation.Made], converter: _Converter,
             watch: Stopwatch) -> tuple[dict[int, Any], dict[int, CongVanError]]:
    """The PDFs of the documents that need one, converted together; and the errors, by document id."""
    todo = [m for m in made if m.docx is not None and m.pdf is None] if lc.campaign.pdf else []
    if not todo:
        return {}, {}
    from congvan.pdf import PdfJob

    # Letters of one step share a template: joined in groups, converted once per group, split per letter
    # (congvan.pdf.joined); each letter's PDF is still verified. Kept in step order so groups do not mix.
    todo = sorted(todo, key=lambda m: m.action.level)
    jobs = [PdfJob(m.docx, m.docx.with_suffix(".pdf"), m.expected,
                   first_page=f"Số: {m.number}" if m.number else None) for m in todo if m.docx is not None]
    pool = converter.ready()
    joined, fallbacks = pool.joined_groups, pool.joined_fallbacks
    results = pool.convert_joined(jobs)
    for key, count in (("pdf groups joined (count)", pool.joined_groups - joined),
                       ("pdf groups one by one (count)", pool.joined_fallbacks - fallbacks)):
        watch.add(key, count)
    pdfs: dict[int, Any] = {}
    errors: dict[int, CongVanError] = {}
    for m, result in zip(todo, results, strict=True):
        if result.ok:
            pdfs[m.document_id] = result.job.pdf
        else:
            assert result.error is not None
            errors[m.document_id] = result.error
    return pdfs, errors


def _not_sent(action: Action, exc: CongVanError) -> escalation.ActionResult:
    return escalation.ActionResult(unit=action.unit, step=action.step.name, kind=action.step.kind, number=None,
                                   to=[], status="not_sent", error=str(exc))


@step("dry run")
def rehearse(settings: Settings, lc: LoadedCampaign, assessment: Assessment, as_of: dt.date,
             todo: Sequence[tuple[Action, dt.date]]) -> list[escalation.ActionResult]:
    """What would go today: each letter rendered as a draft to read (and checked), nothing recorded."""
    ctx = escalation.Context(
        engine=make_engine(settings.database_url), lc=lc, compliance=assessment.compliance,
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

    send_batch(make_engine(settings.database_url), SmtpConfig.from_settings(settings),
               dispatch_steps.sender(lc, settings).address, messages, build,
               retry=RetryPolicy(settings.smtp_attempts, settings.smtp_backoff))


@step("report", retries=2)
def outcome(settings: Settings, prepared: Sequence[escalation.Prepared]) -> list[escalation.ActionResult]:
    from congvan.ledger import deliveries

    engine = make_engine(settings.database_url)
    results = []
    for p in prepared:
        # Only the addresses the letter goes to now: a 550 at an address since corrected is history.
        current = {row.address for m in p.messages for row in m.rows}
        results.append(escalation.result_of(p, [r for r in deliveries(engine, p.document_id) if r.address in current]))
    return results


@flow(name="escalate", log_prints=False)
def escalate(campaign: str, as_of: dt.date | None = None, dry_run: bool = False) -> EscalationResult | State[Any]:
    """Take today's steps of campaign CAMPAIGN's escalation ladder.

    ``as_of`` acts as if that day were today; ``dry_run`` lists what would be sent and records nothing.
    Returns an ``EscalationResult``; a user error ends the run Failed with its reason.
    """
    logger = get_run_logger()
    today = as_of or dt.date.today()
    watch = Stopwatch()  # seconds per stage, returned as "timings" (bench/bench_scale.py reads them)
    try:
        settings: Settings = flow_settings()  # a bad CONGVAN_* on this machine: one line
        lc = run(validate, settings, campaign)
        imports = [] if dry_run else run(import_exports, settings, lc)
        for line in imports:
            logger.info("Imported %s", line)
        if not dry_run:
            run(preflight, settings, lc)
        engine = make_engine(settings.database_url)
        init_db(engine)
        # One run at a time per campaign decides and sends: a manual run and the scheduled one at the
        # same moment would otherwise both see the step as due.
        with campaign_lock(engine, lc.name) if not dry_run else contextlib.nullcontext():
            truth = DeliveryTruth()
            with watch.stage("assess"):
                assessment: Assessment = run(assess, settings, lc, today)
            if assessment.day_off is not None:
                logger.info("%s is not a working day (%s): nothing to do", today, assessment.day_off)
                return _finish(lc, today, [], imports, assessment, dry_run, truth, watch)
            # Delivery truth first: what bounced is resent to its fallback, and a unit the dispatch never
            # reached is not blamed by a follow-up.
            if not dry_run:
                truth = DeliveryTruth(reports=tuple(run(read_mailbox, settings, lc)),
                                      fallbacks=tuple(run(resend_fallbacks, settings, lc)),
                                      alerted=run(alert_bounces, settings, lc))
            truth = replace(truth, held=bounces.unreached(engine, lc))
            assessment = _hold(assessment, truth.held)
            todo = [(a, today) for a in assessment.actions] + list(assessment.resumed)
            if dry_run or not todo:
                planned = run(rehearse, settings, lc, assessment, today, todo) if todo else []
                return _finish(lc, today, planned + _held_results(assessment, truth), imports, assessment, dry_run,
                               truth, watch)
            # Letters that need their signer's approval are drafted and submitted, not issued (issued when
            # approved: `congvan approve`, or the approve deployment).
            gate: Gate = run(submit, settings, lc, assessment, today)
            todo = [(a, today) for a in gate.issue] + list(assessment.resumed)
            results = issue(settings, lc, assessment, today, todo, watch) + list(gate.waiting)
            if gate.waiting:
                publish_pending(engine, lc.name)
            results += _held_results(assessment, truth)
    except StepFailed as exc:
        return Failed(message=str(exc))
    except StoreError as exc:
        return Failed(message=str(exc))
    return _finish(lc, today, results, imports, assessment, dry_run, truth, watch)


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
    engine = make_engine(settings.database_url)
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


def issue_approved(settings: Settings, lc: LoadedCampaign, today: dt.date,
                   approved: Sequence[approvals.Proposal]) -> list[escalation.ActionResult]:
    """Issue follow-ups the signer has just approved, dated ``today``; one whose unit has complied since
    it was drafted is not issued (``moot``, and said so). The caller holds the campaign's lock."""
    follow_up = lc.require_follow_up()
    assessment: Assessment = run(assess, settings, lc, today)
    behind = {u.code for u in assessment.compliance.units if not u.compliant}
    engine = make_engine(settings.database_url)
    todo: list[tuple[Action, dt.date]] = []
    results: list[escalation.ActionResult] = []
    for p in approved:
        step = next((s for s in follow_up.ladder if s.name == p.step), None)
        if (p.unit is not None and p.unit not in behind) or (p.unit is None and not behind):
            approvals.mark(engine, p.key, ApprovalStatus.MOOT)
            whom = p.unit or "every unit"
            results.append(escalation.ActionResult(
                unit=p.unit, step=p.step, kind=p.kind, number=None, to=[], status="moot",
                error=f"{whom} has complied since it was drafted on {p.proposed_on:%d/%m/%Y}: nothing issued"))
        elif step is None:
            results.append(escalation.ActionResult(
                unit=p.unit, step=p.step, kind=p.kind, number=None, to=[], status="not_sent",
                error=f"the ladder of {lc.name} has no step {p.step} any more: nothing issued"))
        else:
            todo.append((Action(p.unit, step, follow_up.ladder.index(step) + 1, today), today))
    return results + issue(settings, lc, assessment, today, todo, Stopwatch())


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

    engine = make_engine(settings.database_url)
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


def _hold(assessment: Assessment, held: dict[str, str]) -> Assessment:
    """Today's actions without the units the dispatch never reached (they are listed as held)."""
    if not held:
        return assessment
    return replace(assessment, actions=tuple(a for a in assessment.actions if a.unit not in held),
                   resumed=tuple(r for r in assessment.resumed if r[0].unit not in held),
                   withheld=tuple(a for a in assessment.actions if a.unit in held))


def _held_results(assessment: Assessment, truth: DeliveryTruth) -> list[escalation.ActionResult]:
    return [escalation.ActionResult(unit=a.unit, step=a.step.name, kind=a.step.kind, number=None, to=[],
                                    status="held", error=truth.held.get(a.unit) if a.unit else None)
            for a in assessment.withheld]


def _finish(lc: LoadedCampaign, as_of: dt.date, results: list[escalation.ActionResult], imports: list[str],
            assessment: Assessment, dry_run: bool, truth: DeliveryTruth, watch: Stopwatch) -> EscalationResult:
    if not dry_run:
        rows = [{"unit": r.unit or "", "step": r.step, "kind": r.kind, "number": r.number or "",
                 "to": ", ".join(r.to), "status": r.status, "error": r.error or ""} for r in results]
        sent = sum(1 for r in results if r.status == "sent")
        create_table_artifact(table=rows or [{"unit": "", "step": "", "kind": "", "number": "", "to": "",
                                              "status": "nothing due", "error": ""}],
                              key=artifact_key("escalate", lc.name),
                              description=f"{as_of.isoformat()}: {sent} of {len(results)} follow-up(s) sent"
                                          + (f" ({assessment.day_off}: not a working day)"
                                             if assessment.day_off else ""))
    state = assessment.compliance
    return EscalationResult(
        as_of=as_of, actions=tuple(results), imports=tuple(imports), bounces=truth, day_off=assessment.day_off,
        dry_run=dry_run, timings=watch.rounded(),
        compliance=ComplianceSummary(required=state.required, responded=state.responded,
                                     units_behind=sum(1 for u in state.units if not u.compliant)))


__all__ = ["UserError", "escalate"]
