"""The dispatch flow: validate → number → render, check, PDF → plan the ledger → mail in batches → report.

Run it with ``congvan dispatch CAMPAIGN``, from the Prefect UI, or by a worker (``prefect.yaml``).
Task runs grow with batches (``CONGVAN_SMTP_BATCH_SIZE`` messages each), not with letters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Failed
from sqlalchemy.engine import Engine

from congvan import approvals
from congvan import dispatch as steps
from congvan.config import LoadedCampaign
from congvan.delivery import Outcome, RetryPolicy, send_batch
from congvan.documents import dispatch_key, drafts_dir
from congvan.errors import StoreError
from congvan.ledger import DeliveryRow, LedgerMessage
from congvan.mail import SmtpConfig
from congvan.register import Allocation
from congvan.results import DispatchResult
from congvan.settings import Settings
from congvan.store.db import campaign_lock, engine_scope, init_db, run_engine
from congvan.store.models import ApprovalStatus
from congvan.validation import validate_campaign
from flows.steps import StepFailed, artifact_key, flow_settings, publish_pending, report_progress, run, step


@step("validate")
def validate(settings: Settings, campaign: str) -> LoadedCampaign:
    return validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign


@step("check the draft")
def check_draft(settings: Settings, lc: LoadedCampaign, planned_on: dt.date) -> Path:
    return steps.check_draft(lc, templates_dir=settings.templates_dir, out_dir=drafts_dir(settings.output_dir, lc.name),
                             planned_on=planned_on)


@step("submit for approval", retries=2)
def submit(settings: Settings, lc: LoadedCampaign, planned_on: dt.date, draft: Path) -> approvals.Proposal:
    """The checked draft goes to the signer; a decision already taken is returned as it is."""
    return approvals.propose(run_engine(settings.database_url), key=dispatch_key(lc.name), campaign=lc.name,
                             step="dispatch", kind="dispatch", unit=None, level=0, signer=lc.signer.name,
                             draft=draft, on=planned_on)


@step("preflight")
def preflight(settings: Settings, lc: LoadedCampaign) -> None:
    steps.preflight(SmtpConfig.from_settings(settings), steps.sender(lc, settings).address, need_pdf=lc.campaign.pdf)
    from congvan.signoff import signoff_for

    signoff = signoff_for(settings, lc)
    if signoff is not None:  # a wrong PIN, an expired certificate: one line now, before a number is taken
        with signoff:
            signoff.preflight([lc.campaign.signer])


@step("number", retries=2)
def number(settings: Settings, lc: LoadedCampaign, issued_on: dt.date) -> Allocation:
    engine = run_engine(settings.database_url)
    init_db(engine)
    return steps.allocate(engine, lc, issued_on)


@step("render, check, convert and sign", retries=2)
def produce(settings: Settings, lc: LoadedCampaign, allocation: Allocation) -> steps.IssuedFiles:
    files = steps.produce(run_engine(settings.database_url), lc, allocation, templates_dir=settings.templates_dir,
                          out_dir=documents_dir(settings, lc), make_pdf=pdf_maker(lc))
    from congvan.signoff import signoff_for

    signoff = signoff_for(settings, lc)
    if signoff is not None and files.pdf is not None:
        # Signed (signer, then organisation) and verified before anyone gets it; a rerun finds it signed.
        with signoff:
            signoff.sign_issued(files.pdf, signer_key=lc.campaign.signer, so_ky_hieu=allocation.so_ky_hieu)
    return files


@step("plan deliveries", retries=2)
def plan(settings: Settings, lc: LoadedCampaign, allocation: Allocation) -> list[LedgerMessage]:
    return steps.plan(run_engine(settings.database_url), lc, allocation, settings)


@step("send batch", retries=2)
def send(settings: Settings, lc: LoadedCampaign, allocation: Allocation, files: steps.IssuedFiles,
         batch: Sequence[LedgerMessage], done_before: int, total: int) -> list[Outcome]:
    from_ = steps.sender(lc, settings)
    build = steps.composer(lc, allocation, from_=from_, files=steps.attachments(lc, allocation, files),
                           templates_dir=settings.templates_dir)
    counter = {"n": done_before}

    def tick(message: LedgerMessage, rows: Sequence[DeliveryRow]) -> None:
        counter["n"] += 1
        report_progress(counter["n"], total)  # to whoever started the run and watches (flows.steps.progress_to)

    return send_batch(run_engine(settings.database_url), SmtpConfig.from_settings(settings), from_.address,
                      batch, build, retry=RetryPolicy(settings.smtp_attempts, settings.smtp_backoff), progress=tick)


@step("dry run")
def rehearse(settings: Settings, lc: LoadedCampaign, planned_on: dt.date) -> DispatchResult:
    return steps.dry_run(lc, templates_dir=settings.templates_dir,
                         out_dir=drafts_dir(settings.output_dir, lc.name, dry_run=True), planned_on=planned_on)


@step("report", retries=2)
def summarise(settings: Settings, lc: LoadedCampaign, allocation: Allocation,
              files: steps.IssuedFiles) -> DispatchResult:
    return steps.report(run_engine(settings.database_url), lc, allocation, files)


@flow(name="dispatch", log_prints=False, validate_parameters=True)
def dispatch(campaign: str, as_of: dt.date | None = None, dry_run: bool = False) -> DispatchResult | State[Any]:
    """Issue campaign CAMPAIGN's dispatch and mail it to every recipient exactly once.

    ``as_of`` is the issue date (default today); ``dry_run`` renders and plans, sends nothing and
    allocates no number. Returns a ``DispatchResult``; a user error ends the run Failed with its one-line
    reason.
    """
    with engine_scope():  # the run's engines, one per database, disposed when it ends (congvan.store.db)
        return _dispatch(campaign, as_of, dry_run)


def _dispatch(campaign: str, as_of: dt.date | None, dry_run: bool) -> DispatchResult | State[Any]:
    logger = get_run_logger()
    today = as_of or dt.date.today()
    try:
        settings: Settings = flow_settings()  # a bad CONGVAN_* on this machine: one line
        lc = run(validate, settings, campaign)
        if dry_run:
            result = run(rehearse, settings, lc, today)
            logger.info("Dry run: %d deliveries planned, nothing sent, no number allocated",
                        len(result.deliveries))
            return _finish(result)
        engine = run_engine(settings.database_url)
        init_db(engine)
        if not approvals.dispatch_waits(engine, lc):
            run(preflight, settings, lc)
        draft = run(check_draft, settings, lc, today)
        # One run at a time per campaign plans and sends (a rerun while one is sending, a second worker).
        with campaign_lock(engine, lc.name):
            if approvals.dispatch_gated(engine, lc):
                proposal: approvals.Proposal = run(submit, settings, lc, today, draft)
                if proposal.status is not ApprovalStatus.APPROVED:
                    return _awaiting(engine, lc, proposal, draft)
            allocation = run(number, settings, lc, today)
            if lc.campaign.approval == "signer":
                approvals.mark(engine, dispatch_key(lc.name), ApprovalStatus.ISSUED,
                               document_id=allocation.document_id)
            logger.info("Number %s (%s)", allocation.so_ky_hieu,
                        "new" if allocation.created else "already allocated")
            files = run(produce, settings, lc, allocation)
            messages = run(plan, settings, lc, allocation)
            todo = steps.batches(messages, settings.smtp_batch_size)
            total = sum(len(b) for b in todo)
            logger.info("%d message(s) to send in %d batch(es); %d already settled",
                        total, len(todo), len(messages) - total)
            done = 0
            for batch in todo:
                run(send, settings, lc, allocation, files, batch, done, total)
                done += len(batch)
            result = run(summarise, settings, lc, allocation, files)
    except StoreError as exc:
        return Failed(message=str(exc))
    except StepFailed as exc:
        return Failed(message=str(exc))
    logger.info("Sent %d, failed %d, pending %d", result.count("sent"),
                result.count("failed_permanent"), result.count("failed_temporary") + result.count("pending"))
    return _finish(result)


def _awaiting(engine: Engine, lc: LoadedCampaign, proposal: approvals.Proposal,
              draft: Path) -> DispatchResult | State[Any]:
    """Nothing numbered, nothing sent: the draft waits for the signer (or was refused)."""
    if proposal.status is ApprovalStatus.REJECTED:
        why = f": {proposal.comment}" if proposal.comment else ""
        return Failed(message=f"{lc.name}: the dispatch was rejected by {proposal.decided_by}{why}; it is not "
                              "issued")
    publish_pending(engine, lc.name)
    get_run_logger().info("The dispatch awaits %s's approval: %s", proposal.signer, draft)
    return DispatchResult(campaign=lc.name, number=None, symbol=lc.symbol, issued_on=None, path=draft,
                          awaiting_approval=(proposal,))


def documents_dir(settings: Settings, lc: LoadedCampaign) -> Path:
    return settings.output_dir / "documents" / lc.name


def pdf_maker(lc: LoadedCampaign) -> steps.PdfMaker | None:
    """The PDF step for one document, or None when the campaign says ``pdf: false``."""
    if not lc.campaign.pdf:
        return None
    from congvan import pdf

    return pdf.make_pdf


def _finish(result: DispatchResult) -> DispatchResult:
    rows = [{"unit": d.unit or "", "name": d.name, "address": d.address, "role": d.role, "status": d.status,
             "message_id": d.message_id or "", "error": d.error or ""} for d in result.deliveries]
    title = "Dry run" if result.dry_run else f"Công văn số {result.number}/{result.symbol}"
    create_table_artifact(table=rows, key=artifact_key("dispatch", result.campaign),
                          description=f"{title}: {result.count('sent')} sent, "
                                      f"{result.count('failed_permanent')} failed, "
                                      f"{result.count('failed_temporary') + result.count('pending')} pending")
    return result
