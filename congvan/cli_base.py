"""What every command module of the CLI shares: settings, dates, and user errors as one line, exit 2."""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

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
        pass
    try:  # as a Vietnamese coordinator writes it
        return dt.datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        raise typer.BadParameter(_("{value!r} is not a date (YYYY-MM-DD or dd/mm/yyyy)").format(value=value),
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


# --- something on screen within a second -------------------------------------------------------------------

WORKING_AFTER = 0.7  # seconds of silence before a command at a terminal says it is working
_ERASE = "\r\033[K"  # back to the start of the line, clear it


class _Watched:
    """A stream that tells when a command first writes to it (and erases the working line before that)."""

    def __init__(self, stream: Any, shown: threading.Event, indicator: list[bool]) -> None:
        self._stream, self._shown, self._indicator = stream, shown, indicator

    def write(self, text: str) -> int:
        self._shown.set()
        if self._indicator[0]:
            self._indicator[0] = False
            self._erase()
        return int(self._stream.write(text))

    def _erase(self) -> None:
        stream = self._stream if self._stream.isatty() else sys.__stderr__
        if stream is not None:
            stream.write(_ERASE)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def visible_at_once(after: float = WORKING_AFTER) -> Iterator[None]:
    """At a terminal, a command silent for ``after`` seconds shows "Working…" on stderr (Vietnamese by default),
    erased as soon as its own output starts: the start-up of Python, pydantic, SQLAlchemy or openpyxl never
    looks like a hang. Not at a terminal (pipes, cron, --json readers) nothing changes."""
    if not sys.stderr.isatty():
        yield
        return
    shown, indicator = threading.Event(), [False]
    real_out, real_err = sys.stdout, sys.stderr

    def say() -> None:
        if not shown.wait(after):
            indicator[0] = True
            real_err.write(_("Working…"))
            real_err.flush()

    sys.stdout, sys.stderr = _Watched(real_out, shown, indicator), _Watched(real_err, shown, indicator)
    watcher = threading.Thread(target=say, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        shown.set()
        watcher.join()
        sys.stdout, sys.stderr = real_out, real_err
        if indicator[0]:  # nothing came after it: leave the terminal as it was
            real_err.write(_ERASE)
            real_err.flush()
