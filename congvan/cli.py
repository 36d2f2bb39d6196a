"""The command line: one library call per command; user errors are one line and exit code 2.

This module builds the command tree and holds the small commands; the others live beside it, one module per
theme: ``cli_dispatch``, ``cli_escalate``, ``cli_follow_up`` (roster, responses, report), ``cli_approval``,
``cli_status``, ``cli_demo``, ``cli_store``, ``cli_bounces``, ``cli_setup``, ``cli_sign``; ``cli_flow`` runs a flow,
``cli_base`` is what they share, ``cli_i18n`` the tree in the user's language.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.cli_approval import approve, pending, reject
from congvan.cli_base import AsOf, error, parse_date, settings_or_exit, user_errors, visible_at_once, warning
from congvan.cli_bounces import bounces_app
from congvan.cli_demo import demo
from congvan.cli_dispatch import dispatch
from congvan.cli_escalate import escalate
from congvan.cli_follow_up import report, responses_app, roster_app
from congvan.cli_setup import new as new_command
from congvan.cli_setup import units_app
from congvan.cli_sign import verify_command
from congvan.cli_status import status as status_command
from congvan.cli_store import db_app, register_app
from congvan.errors import ConfigError, CongVanError
from congvan.i18n import _

if TYPE_CHECKING:
    from congvan.mailcatcher import MailCatcher
    from congvan.settings import Settings

# Start-up: a command imports what it needs when it runs (SQLAlchemy, openpyxl, docxtpl, Prefect, LibreOffice
# glue), so `--help`, `check` or `status` do not pay for what only `dispatch` or `report` use.

# rich_markup_mode=None: plain Click output, so a usage error is an "Error: ..." line too, not a box.
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None,
                  help="Issue Vietnamese official dispatches (công văn) and follow them up.")


@app.command()
def validate(campaign: Annotated[str | None, typer.Argument(help="Campaign (file stem under "
                                                                 "config/campaigns/); all if omitted.")] = None,
             ) -> None:
    """Check config, template and addresses; report every problem found.

    Example: congvan validate par-index-2022
    """
    from congvan.config import list_campaigns
    from congvan.validation import validate_campaign

    settings = settings_or_exit()
    names = [campaign] if campaign else list_campaigns(settings.config_dir)
    if not names:
        error(_("no campaigns in {folder}").format(folder=settings.config_dir / "campaigns"))
        raise typer.Exit(code=2)
    failed = False
    for name in names:
        try:
            result = validate_campaign(settings.config_dir, settings.templates_dir, name)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                error(str(problem))
            continue
        except CongVanError as exc:
            failed = True
            error(str(exc))
            continue
        typer.echo(result.summary())
        for line in result.warnings:
            warning(line)
    if failed:
        raise typer.Exit(code=2)


@app.command()
def render(campaign: Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")],
           draft: Annotated[bool, typer.Option("--draft/--issued", help="A draft leaves the number and day "
                                               "blank; --issued re-renders the issued letter.")] = True,
           out: Annotated[Path | None, typer.Option("--out", help="Folder to write to "
                                                    "(default: $CONGVAN_OUTPUT_DIR/documents).")] = None,
           as_of: AsOf = None) -> None:
    """Render the dispatch without numbering or sending it; print the path.

    Example: congvan render par-index-2022 --draft --out outputs/draft
    """
    settings = settings_or_exit()
    with user_errors():
        path = _render(settings, campaign, draft=draft, out=out, as_of=parse_date(as_of))
    typer.echo(path)  # only the path on stdout, so it can be piped


def _render(settings: Settings, campaign: str, *, draft: bool, out: Path | None,
            as_of: dt.date | None) -> Path:
    from congvan import register
    from congvan.documents import dispatch_key, render_dispatch
    from congvan.store.db import init_db, make_engine
    from congvan.validation import validate_campaign

    lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
    allocation = None
    if not draft:
        engine = make_engine(settings.database_url)
        init_db(engine)
        allocation = register.issued(engine, dispatch_key(lc.name))
    return render_dispatch(lc, templates_dir=settings.templates_dir,
                           out_dir=out or settings.output_dir / "documents",
                           allocation=allocation, planned=as_of)


# The commands in the order `congvan --help` lists them (Typer lists commands, then groups, each as registered).
app.command()(dispatch)
app.add_typer(roster_app, name="roster")
app.add_typer(responses_app, name="responses")
app.add_typer(db_app, name="db")
app.add_typer(register_app, name="register")
app.add_typer(bounces_app, name="bounces")
app.command()(pending)
app.command()(approve)
app.command()(reject)
app.add_typer(units_app, name="units")
app.command("new")(new_command)
app.command("verify")(verify_command)
app.command("status")(status_command)
app.command()(escalate)
app.command()(report)


@app.command()
def serve() -> None:
    """Serve the Prefect deployments: dispatch (on demand) and, for every campaign with a follow-up that
    has not closed, its escalation on cron 0 8 * * 1-5 in Asia/Ho_Chi_Minh (one run at a time per
    campaign; days off in Vietnam are skipped by the run itself). Needs a Prefect server
    (PREFECT_API_URL): the embedded one cannot schedule.

    Example: congvan serve
    """
    settings = settings_or_exit()
    with user_errors():
        from flows.serve import deployments, serve_all

        found = deployments(settings, dt.date.today())
        for deployment in found:
            typer.echo(_("Serving {name}").format(name=deployment.name), err=True)
        serve_all(found)


app.command()(demo)


@app.command()
def check(files: Annotated[list[Path], typer.Argument(help="The .docx files to check.")]) -> None:
    """The Decree-30 checker: one line per violation with its rule id; exit 1 if any.

    Example: congvan check outputs/demo/par-index-2022_du-thao.docx
    """
    from congvan import nd30

    found = 0
    with user_errors():
        for path in files:
            violations = nd30.check(path, kind=None)
            found += len(violations)
            for v in violations:
                typer.echo(f"{path}: {nd30.format_violation(v)}")
            if not violations:
                typer.echo(f"{path}: " + _("OK"), err=True)
    if found:
        raise typer.Exit(code=1)


@app.command()
def mailcatcher(port: Annotated[int | None, typer.Option("--port", help="Port on 127.0.0.1 to listen on (default: "
                                                              "CONGVAN_SMTP_PORT, where congvan sends).")] = None,
                bounce: Annotated[list[str] | None, typer.Option(
                    "--bounce", help="Accept mail for this address, then return it with a delivery report in "
                    "mailbox/returned/ (repeatable).")] = None) -> None:
    """A local SMTP server that stores every message it accepts in outputs/mailbox/ as .eml.

    Example: congvan mailcatcher --port 1025
    """
    from congvan.mailcatcher import CatcherOptions, default_mailbox, serve_forever

    settings = settings_or_exit()
    mailbox = default_mailbox(settings)

    def ready(catcher: MailCatcher) -> None:
        typer.echo(_("Mail catcher on {host}:{port}, storing messages in {mailbox} (Ctrl-C to stop)").format(
            host=catcher.host, port=catcher.port, mailbox=mailbox), err=True)

    with user_errors():
        serve_forever(mailbox, "127.0.0.1", settings.smtp_port if port is None else port, on_ready=ready,
                      options=CatcherOptions(bounce_rcpts=frozenset(bounce or ())))


def main(argv: list[str] | None = None) -> None:
    from congvan.cli_i18n import run

    with visible_at_once():
        run(app, argv if argv is not None else sys.argv[1:])

