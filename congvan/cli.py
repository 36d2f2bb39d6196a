"""The command line: one library call per command; user errors are one line and exit code 2."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from congvan import nd30, register
from congvan.config import list_campaigns
from congvan.documents import dispatch_key, render_dispatch
from congvan.errors import ConfigError, CongVanError
from congvan.mailcatcher import MailCatcher, default_mailbox, serve_forever
from congvan.settings import Settings, load_settings
from congvan.store.db import init_db, make_engine
from congvan.validation import validate_campaign

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
def demo() -> None:
    """The main job on the embedded defaults: validate the sample campaign and render its dispatch.

    Example: congvan demo
    """
    settings = _settings()
    with user_errors():
        checked = validate_campaign(settings.config_dir, settings.templates_dir, "par-index-2022")
        typer.echo(checked.summary())
        lc = checked.campaign
        path = render_dispatch(lc, templates_dir=settings.templates_dir, out_dir=settings.output_dir / "demo")
    typer.echo(f"Draft dispatch: {path}")
    typer.echo(f"  {lc.campaign.subject}")
    typer.echo("Open it in Word or LibreOffice, or check the layout with: "
               f"soffice --headless --convert-to pdf --outdir {path.parent} {path}")


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

