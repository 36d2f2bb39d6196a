"""``congvan bounces …``: delivery reports and read receipts, from saved files or the reply mailbox."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.cli_base import settings_or_exit, user_errors
from congvan.i18n import _

if TYPE_CHECKING:  # the commands import what they use when they run: `congvan --help` stays fast
    from congvan import bounces

bounces_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None,
                          help="Delivery reports and read receipts: what happened after the server's 250.")
Campaign = Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")]


def _print(applied: bounces.Applied) -> None:
    for line in applied.changed:
        typer.echo(line)
    for line in applied.skipped:
        typer.echo(_("Skipped: {line}").format(line=line), err=True)
    typer.echo(_("{changed} delivery row(s) changed, {bounced} bounce(s); {skipped} message(s) skipped").format(
        changed=len(applied.changed), bounced=applied.bounced, skipped=len(applied.skipped)), err=True)


@bounces_app.command("import")
def bounces_import(campaign: Campaign,
                   files: Annotated[list[Path], typer.Argument(help="Saved reports (.eml).")]) -> None:
    """Read saved delivery reports (RFC 3464) and read receipts (RFC 8098) and mark the rows they name:
    bounced, delayed or displayed. A report that names no message of the campaign, or an address the
    message did not go to, changes nothing. Reading the same files again changes nothing.

    Example: congvan bounces import par-index-2022 returned/*.eml
    """
    from congvan import bounces
    from congvan.dispatch import message_id_domain
    from congvan.store.db import init_db, make_engine
    from congvan.validation import validate_campaign

    settings = settings_or_exit()
    with user_errors():
        lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
        engine = make_engine(settings.database_url)
        init_db(engine)
        applied = bounces.import_files(engine, lc, files, own_domain=message_id_domain(lc, settings))
    _print(applied)


@bounces_app.command("sync")
def bounces_sync(campaign: Campaign) -> None:
    """Read the reply mailbox (CONGVAN_IMAP_*) for new reports, mark the rows they name, flag each message
    read ($CongvanRead), and mail the coordinator one alert listing the new bounces. The daily run does
    the same before its letters.

    Example: congvan bounces sync par-index-2022
    """
    from congvan import bounces
    from congvan.dispatch import message_id_domain, sender
    from congvan.imap import ImapConfig
    from congvan.mail import SmtpConfig, SmtpFailure
    from congvan.store.db import init_db, make_engine
    from congvan.validation import validate_campaign

    settings = settings_or_exit()
    with user_errors():
        lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
        engine = make_engine(settings.database_url)
        init_db(engine)
        domain = message_id_domain(lc, settings)
        applied = bounces.sync_mailbox(engine, lc, ImapConfig.from_settings(settings), own_domain=domain)
        _print(applied)
        fallbacks, held = bounces.alert_context(engine, lc)
        try:
            told = bounces.alert(engine, lc, SmtpConfig.from_settings(settings), sender(lc, settings),
                                 fallbacks=fallbacks, held=held, message_id_domain=domain)
        except SmtpFailure as exc:
            typer.echo(_("Warning: the alert to the coordinator was not sent (the next run tries again): "
                         "{reason}").format(reason=exc.reason), err=True)
            told = 0
    if told:
        typer.echo(_("Alerted the coordinator ({address}) about {count} bounce(s)").format(
            address=sender(lc, settings).address, count=told), err=True)
    for code, address in fallbacks.items():
        typer.echo(_("{code}: the dispatch goes once to {address} at the next congvan dispatch or daily run").format(
            code=code, address=address))
