"""The daily escalation flow: import new exports → compliance → the ladder's actions for today →
record, render, check, PDF each letter → mail in batches → publish a table of the letters sent.

Scheduled by ``congvan serve`` (cron ``0 8 * * 1-5`` in Asia/Ho_Chi_Minh) or a worker (``prefect.yaml``);
on a day that is not a working day in Vietnam it does nothing. ``congvan escalate`` runs it by hand.
The tasks that make and mail the letters are in ``flows/follow_ups.py`` (the approve flow issues through them
too), those that read the reply mailbox first in ``flows/delivery_truth.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import State
from prefect.states import Failed

from congvan import approvals, bounces, escalation, policy, roster
from congvan import compliance as compliance_mod
from congvan import dispatch as dispatch_steps
from congvan.config import LoadedCampaign
from congvan.errors import CongVanError, StoreError
from congvan.mail import SmtpConfig
from congvan.policy import Action
from congvan.results import ComplianceSummary, DeliveryTruth, EscalationResult
from congvan.settings import Settings
from congvan.store.db import campaign_lock, engine_scope, init_db, run_engine
from congvan.store.models import ApprovalStatus
from congvan.validation import validate_campaign
from congvan.workdays import WorkCalendar
from flows.delivery_truth import alert_bounces, read_mailbox, resend_fallbacks
from flows.follow_ups import Assessment, Gate, issue, rehearse, submit
from flows.steps import StepFailed, Stopwatch, UserError, artifact_key, flow_settings, publish_pending, run, step


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
    engine = run_engine(settings.database_url)
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
    engine = run_engine(settings.database_url)
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


@step("preflight")
def preflight(settings: Settings, lc: LoadedCampaign) -> None:
    dispatch_steps.preflight(SmtpConfig.from_settings(settings), dispatch_steps.sender(lc, settings).address,
                             need_pdf=lc.campaign.pdf)
    from congvan.signoff import signer_keys, signoff_for

    signoff = signoff_for(settings, lc)
    if signoff is not None:
        with signoff:
            signoff.preflight(signer_keys(lc))


@flow(name="escalate", log_prints=False)
def escalate(campaign: str, as_of: dt.date | None = None, dry_run: bool = False) -> EscalationResult | State[Any]:
    """Take today's steps of campaign CAMPAIGN's escalation ladder.

    ``as_of`` acts as if that day were today; ``dry_run`` lists what would be sent and records nothing.
    Returns an ``EscalationResult``; a user error ends the run Failed with its reason.
    """
    with engine_scope():  # the run's engines, one per database, disposed when it ends (congvan.store.db)
        return _escalate(campaign, as_of, dry_run)


def _escalate(campaign: str, as_of: dt.date | None, dry_run: bool) -> EscalationResult | State[Any]:
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
        engine = run_engine(settings.database_url)
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


def issue_approved(settings: Settings, lc: LoadedCampaign, today: dt.date,
                   approved: Sequence[approvals.Proposal]) -> list[escalation.ActionResult]:
    """Issue follow-ups the signer has just approved, dated ``today``; one whose unit has complied since
    it was drafted is not issued (``moot``, and said so). The caller holds the campaign's lock."""
    follow_up = lc.require_follow_up()
    assessment: Assessment = run(assess, settings, lc, today)
    behind = {u.code for u in assessment.compliance.units if not u.compliant}
    engine = run_engine(settings.database_url)
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
