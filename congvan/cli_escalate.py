"""``congvan escalate``: the day's follow-ups (the escalation flow), and the lines that report them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.cli_base import AsOf, Campaign, parse_date, settings_or_exit, starting, user_errors
from congvan.cli_flow import run_flow
from congvan.cli_status import engine_of, follow_up_campaign
from congvan.i18n import _, status_word
from congvan.vndate import short_date

if TYPE_CHECKING:
    from congvan.config import LoadedCampaign
    from congvan.escalation import ActionResult
    from congvan.results import EscalationResult
    from congvan.settings import Settings


def escalate(campaign: Campaign, as_of: AsOf = None,
             dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be sent; record "
                                                   "and send nothing.")] = False,
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False) -> None:
    """Run the day's escalation: import new exports, then send each unit still behind the ladder step due
    today (once). Running it again the same day sends nothing new. Exit 1 if a follow-up was not sent.

    Example: congvan escalate par-index-2022 --as-of 2023-02-27
    """
    starting("escalate", campaign)
    from congvan.dispatch import preflight, sender
    from congvan.mail import SmtpConfig
    from congvan.store.db import engine_scope, init_db, run_engine

    settings = settings_or_exit()
    with user_errors(), engine_scope():  # its engine disposed before the flow starts (the flow owns its own)
        day = parse_date(as_of)
        lc = follow_up_campaign(settings, campaign)
        init_db(run_engine(settings.database_url))
        if not dry_run:  # as for dispatch: a mail server that cannot be used stops the run before Prefect starts
            preflight(SmtpConfig.from_settings(settings), sender(lc, settings).address, need_pdf=lc.campaign.pdf)
        else:  # a dry run imports nothing: say what a real run would import first
            _say_waiting(settings, lc)
    from congvan.results import EscalationResult

    result = run_flow("escalate", EscalationResult, progress=False, campaign=campaign, as_of=day, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print_escalation(result)
    if any(a.status not in ("sent", "planned", "held", "awaiting_approval") for a in result.actions):
        raise typer.Exit(code=1)


def _say_waiting(settings: Settings, lc: LoadedCampaign) -> None:
    from congvan import roster
    from congvan.cli_status import waiting_line

    folder = roster.responses_dir(settings.config_dir, lc)
    waiting = roster.waiting_exports(engine_of(settings), lc, folder) if folder is not None else []
    if waiting:
        typer.echo(waiting_line(lc.name, waiting, "escalate"), err=True)


def print_escalation(result: EscalationResult) -> None:
    for line in result.imports:
        typer.echo(_("Imported {summary}").format(summary=line))
    truth = result.bounces
    for line in truth.reports:
        typer.echo(_("Report: {line}").format(line=line))
    for f in truth.fallbacks:
        typer.echo(f"  {f.unit or '-':<8} " + _("dispatch to fallback {address}: {status}").format(
            address=f.address, status=status_word(f.status)))
    if truth.alerted:
        typer.echo(_("Alerted the coordinator about {count} new bounce(s)").format(count=truth.alerted))
    if result.day_off:
        typer.echo(_("{date}: not a working day ({reason}); nothing sent").format(date=short_date(result.as_of),
                                                                                 reason=result.day_off))
        return
    if not result.actions:
        typer.echo(_("{date}: nothing due").format(date=short_date(result.as_of)))
        return
    print_actions(result.as_of, result.actions, dry_run=result.dry_run)


def print_actions(as_of: dt.date, actions: Sequence[ActionResult], *, dry_run: bool) -> None:
    """The follow-ups of a day, one line each, and the count (escalate, and approve for the letters it issues)."""
    for a in actions:
        number = f" số {a.number}" if a.number else ""
        error = f"  {a.error}" if a.error else ""
        if dry_run and a.files:
            error += "  " + _("draft: {path}").format(path=a.files[0])
        typer.echo(f"  {(a.unit or 'ALL'):<8} {a.step:<12} {a.kind:<7}{number:<20} "
                   f"{status_word(a.status):<9} {', '.join(a.to)}{error}")
    done = sum(1 for a in actions if a.status in ("sent", "planned"))
    waiting = sum(1 for a in actions if a.status == "awaiting_approval")
    also = _("; {count} drafted, awaiting the signer's approval (congvan pending)").format(count=waiting) \
        if waiting else ""
    line = (_("{date}: {done} of {total} follow-up(s) planned") if dry_run
            else _("{date}: {done} of {total} follow-up(s) sent"))
    typer.echo(line.format(date=short_date(as_of), done=done, total=len(actions)) + also)
