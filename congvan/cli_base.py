"""What every command module of the CLI shares: settings, dates, and user errors as one line, exit 2."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from congvan.errors import CongVanError
from congvan.i18n import N_, _

if TYPE_CHECKING:
    from congvan.settings import Settings

Campaign = Annotated[str, typer.Argument(help="Campaign (file stem under config/campaigns/).")]
AsOf = Annotated[str | None, typer.Option("--as-of", help="Act as if today were this date (YYYY-MM-DD).")]


def error(message: str) -> None:
    typer.secho(_("Error: ") + message, err=True, fg=typer.colors.RED)


def warning(message: str) -> None:
    typer.echo(_("Warning: ") + message, err=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """A CongVanError or a bad option value is the user's to fix: one line on stderr, exit 2, no traceback."""
    try:
        yield
    except CongVanError as exc:
        error(str(exc))
        raise typer.Exit(code=2) from None
    except typer.BadParameter as exc:
        hint = exc.param_hint if isinstance(exc.param_hint, str) else None
        error(_("Invalid value for {hint}: {message}").format(hint=hint, message=exc.message) if hint
              else exc.format_message())
        raise typer.Exit(code=2) from None


def settings_or_exit() -> Settings:
    """The settings from the environment; a bad CONGVAN_* value is a user error, one line each."""
    from pydantic import ValidationError

    from congvan.settings import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        from congvan.config import pydantic_message

        for err in exc.errors():
            name = "CONGVAN_" + "_".join(str(p) for p in err["loc"]).upper()
            error(f"{name}: {pydantic_message(err)}")
        raise typer.Exit(code=2) from None


def parse_date(value: str | None, option: str = "--as-of") -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(_("{value!r} is not a date (YYYY-MM-DD)").format(value=value),
                                 param_hint=f"'{option}'") from None


# The first line of a command that runs a flow: Prefect's import and its API's start-up, and before them the
# checks that import SQLAlchemy, openpyxl, docxtpl, take seconds in which nothing else shows.
STARTING = {"dispatch": N_("Starting the dispatch of {campaign}…"),
            "escalate": N_("Starting the escalation of {campaign}…"),
            "approve": N_("Starting the approval for {campaign}…"),
            "reject": N_("Recording the refusal for {campaign}…"),
            "demo": N_("Starting the demo with {campaign}…")}


def starting(what: str, campaign: str) -> None:
    """Say at once what is starting, on stderr when it is a terminal: someone is watching, and a log or a pipe
    (cron, scripts, the tests that read stderr line by line) gets nothing it did not ask for. stdout stays the
    result alone (``--json``)."""
    if sys.stderr.isatty():
        typer.echo(_(STARTING[what]).format(campaign=campaign), err=True)
