"""The signer's decision (trình ký) and what follows it: approve → issue at once (number, render, check,
PDF, sign, mail); reject → never issued, never proposed again for that step.

Run it with ``congvan approve`` / ``congvan reject``, or from the Prefect UI: the deployment
``approve/approve`` is the form, its parameters the decision (campaign, units, decision, by, comment),
and the ``pending-CAMPAIGN`` artifact lists what awaits it. A deployment rather than a paused run:
a letter may wait days for the Chairman, and a paused run would hold a worker (or, suspended, rerun
the whole flow on resume); the decision is congvan's own record (``congvan.approvals``), whatever
Prefect keeps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from prefect import flow, get_run_logger, runtime
from prefect.client.schemas.objects import State
from prefect.states import Failed

from congvan import approvals
from congvan.config import LoadedCampaign
from congvan.errors import StoreError
from congvan.escalation import ActionResult
from congvan.results import ApprovalResult, DispatchResult
from congvan.settings import Settings
from congvan.store.db import campaign_lock, engine_scope, init_db, run_engine
from congvan.store.models import ApprovalStatus
from congvan.validation import validate_campaign
from flows import escalate as escalate_flow
from flows.dispatch import dispatch
from flows.steps import StepFailed, flow_settings, outcome_of, publish_pending, run, step


@step("validate")
def validate(settings: Settings, campaign: str) -> LoadedCampaign:
    return validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign


@step("record the decision", retries=2)
def record(settings: Settings, lc: LoadedCampaign, approve: bool, units: list[str | None] | None, by: str | None,
           via: str, comment: str | None) -> list[approvals.Proposal]:
    engine = run_engine(settings.database_url)
    return approvals.decide(engine, lc.name, approve=approve, units=units, by=by, via=via,
                            comment=comment)


@flow(name="approve", log_prints=False, validate_parameters=True)
def approve(campaign: str, units: list[str] | None = None, decision: Literal["approve", "reject"] = "approve",
            by: str | None = None, comment: str | None = None, as_of: dt.date | None = None,
            via: str | None = None) -> ApprovalResult | State[Any]:
    """Record the signer's decision on what campaign CAMPAIGN has waiting, then issue what was approved.

    ``units``: only those units' documents (default: everything pending; ``ALL`` names the dispatch or
    the report, which have no unit). Approved documents not issued yet (a run that stopped half-way)
    are issued too. ``by``: who decided (default: each document's signer); ``comment``: a
    remark, or for a rejection its reason (required). ``as_of``: the issue date (default today).
    """
    with engine_scope():  # the run's engines, one per database, disposed when it ends (congvan.store.db)
        return _approve(campaign, units, decision, by, comment, as_of, via)


def _approve(campaign: str, units: list[str] | None, decision: Literal["approve", "reject"], by: str | None,
             comment: str | None, as_of: dt.date | None, via: str | None) -> ApprovalResult | State[Any]:
    logger = get_run_logger()
    today = as_of or dt.date.today()
    approving = decision == "approve"
    if not approving and not (comment and comment.strip()):
        return Failed(message=f"{campaign}: a rejection needs its reason (comment)")
    if not approving and not units:
        return Failed(message=f"{campaign}: a rejection names its units (ALL for the dispatch or the report)")
    chosen: list[str | None] | None = [None if u.upper() == "ALL" else u for u in units] if units else None
    try:
        settings: Settings = flow_settings()  # a bad CONGVAN_* on this machine: one line
        lc = run(validate, settings, campaign)
        engine = run_engine(settings.database_url)
        init_db(engine)
        if approving:  # what issuing needs (mail server, LibreOffice, signing keys) works, before the decision
            run(escalate_flow.preflight, settings, lc)
        decided: list[approvals.Proposal] = []
        # Approved before but not issued (the run that approved them stopped): issued now, not decided again.
        leftover = [p for p in approvals.listing(engine, lc.name, (ApprovalStatus.APPROVED,))
                    if approving and (chosen is None or p.unit in chosen)]
        waiting = [p for p in approvals.listing(engine, lc.name) if chosen is None or p.unit in chosen]
        if waiting or not leftover:
            decided = run(record, settings, lc, approving, chosen, by, via or _origin(), comment)
        decided += [p for p in leftover if p.id not in {d.id for d in decided}]
        for p in decided:
            logger.info("%s %s by %s", p.describe().capitalize(), p.status.value, p.decided_by)
        dispatched: DispatchResult | None = None
        issued: list[ActionResult] = []
        if approving:
            if any(p.kind == "dispatch" for p in decided):
                dispatched = outcome_of(dispatch(campaign=campaign, as_of=today, return_state=True), "dispatch",
                                        DispatchResult)
            follow_ups = [p for p in decided if p.kind != "dispatch"]
            if follow_ups:
                with campaign_lock(engine, lc.name):
                    issued = escalate_flow.issue_approved(settings, lc, today, follow_ups)
        publish_pending(engine, lc.name)
    except (StepFailed, StoreError) as exc:
        return Failed(message=str(exc))
    except Exception as exc:  # the dispatch subflow's user error (CongVanError from outcome_of)
        from congvan.errors import CongVanError

        if isinstance(exc, CongVanError):
            return Failed(message=str(exc))
        raise
    return ApprovalResult(decision=decision, decided=tuple(decided), as_of=today, dispatch=dispatched,
                          actions=tuple(issued))


def _origin() -> str:
    """Where a decision made in Prefect came from: the deployment (the UI's form) and the flow run."""
    run_id = runtime.flow_run.id
    deployment = runtime.deployment.name
    return f"prefect deployment {deployment}, flow run {run_id}" if deployment else f"prefect flow run {run_id}"


__all__ = ["approve"]
