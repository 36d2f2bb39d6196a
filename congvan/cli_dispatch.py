"""``congvan dispatch``: number, render, check and mail the dispatch (the dispatch flow), and its table."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.cli_base import AsOf, parse_date, settings_or_exit, starting, user_errors
from congvan.cli_flow import run_flow, signing_preflight
from congvan.i18n import _, status_word
from congvan.vndate import short_date

if TYPE_CHECKING:
    from congvan.results import DispatchResult


def dispatch(campaign: Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")],
             as_of: AsOf = None,
             dry_run: Annotated[bool, typer.Option("--dry-run", help="Render and plan; send nothing, "
                                                   "allocate no number.")] = False,
             as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout "
                                                   "(logs stay on stderr).")] = False) -> None:
    """Number, render, check and mail the dispatch to every recipient, exactly once.

    A rerun sends only what is missing. Exit 0 when every delivery is sent, 1 when some failed or
    are still pending (rerun later), 2 on a user error.

    Example: congvan dispatch par-index-2022 --as-of 2023-02-10
    """
    starting("dispatch", campaign)
    from congvan.approvals import dispatch_waits
    from congvan.dispatch import preflight, sender
    from congvan.mail import SmtpConfig
    from congvan.store.db import engine_scope, init_db, run_engine
    from congvan.validation import validate_campaign

    settings = settings_or_exit()
    with user_errors(), engine_scope():  # its engine disposed before the flow starts (the flow owns its own)
        day = parse_date(as_of)
        lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
        if not dry_run:
            # Before Prefect starts and before a number is taken: a bad login, a missing LibreOffice
            # or an unreachable database is one line now, and nothing has been sent.
            engine = run_engine(settings.database_url)
            init_db(engine)
            if not dispatch_waits(engine, lc):  # a run that only drafts for the signer sends nothing
                preflight(SmtpConfig.from_settings(settings), sender(lc, settings).address,
                          need_pdf=lc.campaign.pdf)
                signing_preflight(settings, lc, [lc.campaign.signer])
    from congvan.results import DispatchResult

    result = run_flow("dispatch", DispatchResult, progress=not as_json, campaign=campaign, as_of=day, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print_dispatch(result)
    if result.unserved():
        raise typer.Exit(code=1)


def print_dispatch(result: DispatchResult) -> None:
    if result.awaiting_approval:
        (waiting,) = result.awaiting_approval
        typer.echo(_("Awaiting the signer's approval (trình ký); nothing numbered, nothing sent. Draft: {path}").format(
            path=result.path))
        typer.echo("  " + _("approve: congvan approve {campaign} --by NAME   "
                            "reject: congvan reject {campaign} --unit ALL --reason TEXT").format(
            campaign=waiting.campaign))
        return
    if result.dry_run:
        typer.echo(_("Dry run: nothing sent, no number allocated. Draft: {path}").format(path=result.path))
    else:
        assert result.issued_on is not None
        typer.echo(_("Công văn số {number}/{symbol} issued {date}: {path}").format(
            number=result.number, symbol=result.symbol, date=short_date(result.issued_on), path=result.path))
    rows = result.deliveries
    width = max([len(d.unit or "-") for d in rows] + [4])
    for d in rows:
        reason = f"  {d.error}" if d.error and d.status != "sent" else ""
        typer.echo(f"  {(d.unit or '-'):<{width}}  {status_word(d.status):<16}  {d.address:<40}{reason}")
    counts = {s: result.count(s) for s in ("planned", "sent", "failed_permanent", "failed_temporary", "pending")}
    if result.dry_run:
        typer.echo(_("{count} deliveries planned").format(count=counts["planned"]))
    else:
        typer.echo(_("Sent {sent}, failed {failed}, pending {pending} (a rerun retries the pending)").format(
            sent=counts["sent"], failed=counts["failed_permanent"],
            pending=counts["failed_temporary"] + counts["pending"]))
