"""The command line: one library call per command; user errors are one line and exit code 2."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from congvan import nd30, register
from congvan.config import list_campaigns
from congvan.dispatch import preflight, sender
from congvan.documents import dispatch_key, render_dispatch
from congvan.errors import ConfigError, CongVanError
from congvan.mail import SmtpConfig
from congvan.mailcatcher import MailCatcher, default_mailbox, serve_forever
from congvan.settings import Settings, load_settings
from congvan.store.db import init_db, make_engine
from congvan.validation import validate_campaign
from congvan.vndate import short_date

# rich_markup_mode=None: plain Click output, so a usage error is an "Error: ..." line too, not a box.
app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None,
                  help="Issue Vietnamese official dispatches (công văn) and follow them up.")


def _error(message: str) -> None:
    typer.secho(f"Error: {message}", err=True, fg=typer.colors.RED)


@contextmanager
def user_errors() -> Iterator[None]:
    """A CongVanError or a bad option value is the user's to fix: one line on stderr, exit 2, no traceback."""
    try:
        yield
    except CongVanError as exc:
        _error(str(exc))
        raise typer.Exit(code=2) from None
    except typer.BadParameter as exc:
        _error(exc.format_message())
        raise typer.Exit(code=2) from None


def _settings() -> Settings:
    """The settings from the environment; a bad CONGVAN_* value is a user error, one line each."""
    try:
        return load_settings()
    except ValidationError as exc:
        for err in exc.errors():
            name = "CONGVAN_" + "_".join(str(p) for p in err["loc"]).upper()
            _error(f"{name}: {err['msg']}")
        raise typer.Exit(code=2) from None


def _date(value: str | None, option: str = "--as-of") -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=f"'{option}'") from None


AsOf = Annotated[str | None, typer.Option("--as-of", help="Act as if today were this date (YYYY-MM-DD).")]


@app.command()
def validate(campaign: Annotated[str | None, typer.Argument(help="Campaign (file stem under "
                                                                 "config/campaigns/); all if omitted.")] = None,
             ) -> None:
    """Check config, template and addresses; report every problem found.

    Example: congvan validate par-index-2022
    """
    settings = _settings()
    names = [campaign] if campaign else list_campaigns(settings.config_dir)
    if not names:
        _error(f"no campaigns in {settings.config_dir / 'campaigns'}")
        raise typer.Exit(code=2)
    failed = False
    for name in names:
        try:
            result = validate_campaign(settings.config_dir, settings.templates_dir, name)
        except ConfigError as exc:
            failed = True
            for problem in exc.problems:
                typer.secho(f"Error: {problem}", err=True, fg=typer.colors.RED)
            continue
        except CongVanError as exc:
            failed = True
            _error(str(exc))
            continue
        typer.echo(result.summary())
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
    settings = _settings()
    with user_errors():
        path = _render(settings, campaign, draft=draft, out=out, as_of=_date(as_of))
    typer.echo(path)  # only the path on stdout, so it can be piped


def _render(settings: Settings, campaign: str, *, draft: bool, out: Path | None,
            as_of: dt.date | None) -> Path:
    lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
    allocation = None
    if not draft:
        engine = make_engine(settings.database_url)
        init_db(engine)
        allocation = register.issued(engine, dispatch_key(lc.name))
    return render_dispatch(lc, templates_dir=settings.templates_dir,
                           out_dir=out or settings.output_dir / "documents",
                           allocation=allocation, planned=as_of)


@app.command()
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
    settings = _settings()
    with user_errors():
        day = _date(as_of)
        lc = validate_campaign(settings.config_dir, settings.templates_dir, campaign).campaign
        if not dry_run:
            # Before Prefect starts and before a number is taken: a bad login, a missing LibreOffice
            # or an unreachable database is one line now, and nothing has been sent.
            init_db(make_engine(settings.database_url))
            preflight(SmtpConfig.from_settings(settings), sender(lc, settings).address, need_pdf=lc.campaign.pdf)
    result = _run_flow("dispatch", progress=not as_json, campaign=campaign, as_of=day, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps({k: result[k] for k in ("document", "deliveries")}, ensure_ascii=False, indent=2))
    else:
        _print_dispatch(result)
    unsent = [d for d in result["deliveries"] if d["status"] not in ("sent", "planned")]
    if unsent:
        raise typer.Exit(code=1)


def _run_flow(name: str, *, progress: bool, **parameters: Any) -> dict[str, Any]:
    """Run a flow in this process; a run that ends Failed is a user error (one line, exit 2)."""
    # Prefect's INFO lines would bury the progress bar and the table; its warnings and errors still show.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows import dispatch as dispatch_flow

    flows = {"dispatch": dispatch_flow.dispatch}
    bar: Any = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = typer.progressbar(length=total, label="Sending", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    if progress:
        dispatch_flow.progress_listener = show
    try:
        state = flows[name](return_state=True, **parameters)
    finally:
        dispatch_flow.progress_listener = None
        if bar is not None:
            bar.__exit__(None, None, None)
    if not state.is_completed():
        _error(state.message or f"the {name} run ended {state.type.value.lower()}")
        raise typer.Exit(code=2)
    result = state.result()
    assert isinstance(result, dict)
    return result


def _print_dispatch(result: dict[str, Any]) -> None:
    doc = result["document"]
    if result["dry_run"]:
        typer.echo(f"Dry run: nothing sent, no number allocated. Draft: {doc['path']}")
    else:
        typer.echo(f"Công văn số {doc['number']}/{doc['symbol']} issued {doc['issued_on']}: {doc['path']}")
    rows = result["details"]
    width = max([len(d["unit"] or "-") for d in rows] + [4])
    for d in rows:
        reason = f"  {d['error']}" if d["error"] and d["status"] != "sent" else ""
        typer.echo(f"  {(d['unit'] or '-'):<{width}}  {d['status']:<16}  {d['address']:<40}{reason}")
    counts = {s: sum(1 for d in rows if d["status"] == s) for s in
              ("planned", "sent", "failed_permanent", "failed_temporary", "pending")}
    if result["dry_run"]:
        typer.echo(f"{counts['planned']} deliveries planned")
    else:
        typer.echo(f"Sent {counts['sent']}, failed {counts['failed_permanent']}, "
                   f"pending {counts['failed_temporary'] + counts['pending']} (a rerun retries the pending)")


DEMO_CAMPAIGN = "par-index-2022"


@app.command()
def demo() -> None:
    """The whole job on the embedded defaults, in outputs/demo/ (wiped first): a mail catcher, the sample
    campaign's draft, then its dispatch numbered, rendered, checked and mailed to every unit.

    Example: congvan demo
    """
    settings = _settings()
    demo_dir = settings.output_dir / "demo"
    with user_errors():
        checked = validate_campaign(settings.config_dir, settings.templates_dir, DEMO_CAMPAIGN)
        typer.echo(checked.summary())
        lc = checked.campaign
        shutil.rmtree(demo_dir, ignore_errors=True)
        draft = render_dispatch(lc, templates_dir=settings.templates_dir, out_dir=demo_dir / "draft")
        typer.echo(f"Draft for signature: {draft}")
        issue_date = lc.campaign.date or dt.date.today()
        with MailCatcher(demo_dir / "mailbox") as catcher:
            # The demo's own world: its database, documents and mail server, whatever .env says.
            os.environ.update(CONGVAN_OUTPUT_DIR=str(demo_dir),
                              CONGVAN_DATABASE_URL=f"sqlite:///{demo_dir / 'congvan.db'}",
                              CONGVAN_SMTP_HOST="127.0.0.1", CONGVAN_SMTP_PORT=str(catcher.port),
                              CONGVAN_SMTP_SECURITY="none")
            for name in ("CONGVAN_SMTP_USER", "CONGVAN_SMTP_PASSWORD", "CONGVAN_SMTP_FROM"):
                os.environ.pop(name, None)
            typer.echo(f"Mail catcher on 127.0.0.1:{catcher.port}; dispatching {DEMO_CAMPAIGN} as of {issue_date}…")
            result = _run_flow("dispatch", progress=True, campaign=DEMO_CAMPAIGN, as_of=issue_date, dry_run=False)
            messages = catcher.paths()
    doc = result["document"]
    details = result["details"]
    units = {d["unit"] for d in details if d["unit"] and d["status"] == "sent"}
    copies = sum(1 for d in details if not d["unit"] and d["status"] == "sent")
    issued = short_date(dt.date.fromisoformat(doc["issued_on"]))
    typer.echo(f"Issued: Công văn số {doc['number']}/{doc['symbol']} ngày {issued}")
    typer.echo(f"  .docx: {doc['path']}")
    pdfs = sorted(Path(doc["path"]).parent.glob("*.pdf"))
    if pdfs:
        typer.echo(f"  PDF:   {pdfs[0]}")
    typer.echo(f"Served {len(units)} of {len(lc.addressees)} units (+{copies} copies): "
               f"{len(messages)} .eml files in {demo_dir / 'mailbox'}")
    if messages:
        typer.echo(f"  e.g. {messages[0]}  (open it in any mail client)")
    failed = [d for d in details if d["status"] != "sent"]
    for d in failed:
        typer.echo(f"  not sent: {d['unit'] or d['name']} <{d['address']}>: {d['status']} {d['error'] or ''}")
    if failed:
        raise typer.Exit(code=1)


@app.command()
def check(files: Annotated[list[Path], typer.Argument(help="The .docx files to check.")]) -> None:
    """The Decree-30 checker: one line per violation with its rule id; exit 1 if any.

    Example: congvan check outputs/demo/par-index-2022_du-thao.docx
    """
    found = 0
    with user_errors():
        for path in files:
            violations = nd30.check(path)
            found += len(violations)
            for v in violations:
                typer.echo(f"{path}: {nd30.format_violation(v)}")
            if not violations:
                typer.echo(f"{path}: OK", err=True)
    if found:
        raise typer.Exit(code=1)


@app.command()
def mailcatcher(port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 to listen on.")] = 1025,
                ) -> None:
    """A local SMTP server that stores every message it accepts in outputs/mailbox/ as .eml.

    Example: congvan mailcatcher --port 1025
    """
    settings = _settings()
    mailbox = default_mailbox(settings)

    def ready(catcher: MailCatcher) -> None:
        typer.echo(f"Mail catcher on {catcher.host}:{catcher.port}, storing messages in {mailbox} "
                   "(Ctrl-C to stop)", err=True)

    with user_errors():
        serve_forever(mailbox, "127.0.0.1", port, on_ready=ready)


def main(argv: list[str] | None = None) -> None:
    app(args=argv if argv is not None else sys.argv[1:], prog_name="congvan")

