"""``congvan pending`` / ``approve`` / ``reject``: the signer's decision on drafted documents (trình ký).

``dispatch`` and the daily ``escalate`` draft what needs approval and stop there; ``approve`` records
the decision and issues at once (number, render, check, PDF, sign, mail), ``reject`` records the refusal
and its reason. The decision is stored in congvan's database: who, when, from where, and why.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.cli_base import error, parse_date, settings_or_exit, starting, user_errors
from congvan.i18n import _, status_word

if TYPE_CHECKING:
    from congvan.results import ApprovalResult

Campaign = Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")]
Units = Annotated[list[str] | None, typer.Option("--unit", help="A unit's code (repeatable); ALL names the dispatch "
                                                 "or the report. Default: everything pending.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def pending(campaign: Annotated[str | None, typer.Argument(help="Campaign; all campaigns if omitted.")] = None,
            as_json: AsJson = False) -> None:
    """List what awaits the signer's approval: each drafted document and the draft to read.

    Example: congvan pending par-index-2022
    """
    from congvan import approvals
    from congvan.store.db import init_db, make_engine

    settings = settings_or_exit()
    with user_errors():
        engine = make_engine(settings.database_url)
        init_db(engine)
        waiting = approvals.listing(engine, campaign)
    if as_json:
        typer.echo(json.dumps({"pending": [p.as_json() for p in waiting]}, ensure_ascii=False, indent=2))
        return
    if not waiting:
        typer.echo(_("Nothing awaits approval in {campaign}").format(campaign=campaign) if campaign
                   else _("Nothing awaits approval"))
        return
    for p in waiting:
        typer.echo(f"  #{p.id:<4} {p.campaign}  {p.step:<10} {(p.unit or 'ALL'):<8} {p.kind:<8} "
                   + _("signer {signer}, drafted {date}").format(signer=p.signer, date=f"{p.proposed_on:%d/%m/%Y}")
                   + f"  {p.draft or ''}")
    typer.echo(_("{count} document(s) await approval: congvan approve CAMPAIGN [--unit CODE] --by NAME, or "
                 "congvan reject CAMPAIGN --unit CODE --reason TEXT").format(count=len(waiting)))


def approve(campaign: Campaign, units: Units = None,
            by: Annotated[str | None, typer.Option("--by", help="Who approves (default: the document's "
                                                   "signer).")] = None,
            comment: Annotated[str | None, typer.Option("--comment", help="A remark kept with the "
                                                        "decision.")] = None,
            as_of: Annotated[str | None, typer.Option("--as-of", help="Issue as if today were this date "
                                                      "(YYYY-MM-DD).")] = None,
            as_json: AsJson = False) -> None:
    """Approve what awaits the signer and issue it at once: number, render, check, PDF, sign, mail.

    A letter whose unit has complied since it was drafted is not issued (and the output says so).
    Exit 0 when everything approved went out, 1 when a delivery failed, 2 on a user error.

    Example: congvan approve par-index-2022 --by "Phạm Ngọc Nghị"
    """
    starting("approve", campaign)
    from congvan.cli_dispatch import print_dispatch
    from congvan.cli_escalate import print_actions
    from congvan.cli_flow import run_flow, signing_preflight
    from congvan.dispatch import preflight, sender
    from congvan.mail import SmtpConfig
    from congvan.signoff import signer_keys
    from congvan.store.db import engine_scope, init_db, run_engine
    from congvan.validation import validate_campaign

    settings = settings_or_exit()
    with user_errors(), engine_scope():  # its engine disposed before the flow starts (the flow owns its own)
        day = parse_date(as_of)
        lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
        engine = run_engine(settings.database_url)
        init_db(engine)
        # Before the decision is recorded: a mail server or LibreOffice that cannot be used is one line now.
        preflight(SmtpConfig.from_settings(settings), sender(lc, settings).address, need_pdf=lc.campaign.pdf)
        signing_preflight(settings, lc, signer_keys(lc))
    from congvan.results import ApprovalResult

    result = run_flow("approve", ApprovalResult, progress=not as_json, campaign=campaign, units=units,
                       decision="approve", by=by, comment=comment, as_of=day, via=_cli_origin())
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_decision(result)
        if result.dispatch:
            print_dispatch(result.dispatch)
        if result.actions:
            print_actions(result.as_of, result.actions, dry_run=False)
    if (result.dispatch and result.dispatch.unserved()) or any(
            a.status not in ("sent", "moot", "held") for a in result.actions):
        raise typer.Exit(code=1)


def reject(campaign: Campaign, units: Units = None,
           reason: Annotated[str, typer.Option("--reason", help="Why it is refused (kept with the decision).")] = "",
           by: Annotated[str | None, typer.Option("--by", help="Who refuses (default: the document's "
                                                  "signer).")] = None,
           as_json: AsJson = False) -> None:
    """Refuse what awaits the signer: never issued, and not proposed again for that step.

    Example: congvan reject par-index-2022 --unit KPAC --reason "Đơn vị đã báo cáo lý do chính đáng"
    """
    if not reason.strip():
        error(_("--reason is required: say why the document is refused"))
        raise typer.Exit(code=2)
    if not units:  # a refusal names what it refuses: never everything pending by omission
        error(_("--unit is required: the unit whose document is refused, or ALL for the dispatch or the report"))
        raise typer.Exit(code=2)
    starting("reject", campaign)
    settings_or_exit()
    result = _run_flow_reject(campaign, units, by, reason)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_decision(result)


def _run_flow_reject(campaign: str, units: list[str] | None, by: str | None, reason: str) -> ApprovalResult:
    from congvan.cli_flow import run_flow
    from congvan.results import ApprovalResult

    return run_flow("approve", ApprovalResult, progress=False, campaign=campaign, units=units, decision="reject",
                     by=by, comment=reason, via=_cli_origin())


def _cli_origin() -> str:
    from congvan.approvals import cli_origin

    return cli_origin()


def _print_decision(result: ApprovalResult) -> None:
    for p in result.decided:
        at = p.decided_at.astimezone(_vietnam()) if p.decided_at else None
        when = _(" at {time}").format(time=f"{at:%d/%m/%Y %H:%M}") if at else ""
        what = _("the dispatch") if p.kind == "dispatch" else f"{p.step} ({p.kind})"
        remark = f": {p.comment}" if p.comment else ""
        status = p.status.value
        if p.unit:
            line = {"approved": _("Approved {what} for {unit} by {by}"),
                    "rejected": _("Rejected {what} for {unit} by {by}")}.get(status)
        else:  # the dispatch or the report: the campaign's own, no unit to name
            line = {"approved": _("Approved {what} by {by}"), "rejected": _("Rejected {what} by {by}")}.get(status)
        head = line.format(what=what, unit=p.unit, by=p.decided_by) if line else \
            f"{status_word(status)}: {what} {p.unit or ''} ({p.decided_by})"
        typer.echo(head + when + remark)


def _vietnam() -> dt.tzinfo:
    from congvan.vndate import VIETNAM

    return VIETNAM


__all__ = ["approve", "pending", "reject"]
