"""Running a flow from the command line: in this process, on Prefect's embedded API unless PREFECT_API_URL names
a server; its Failed state as one line and exit 2; the dispatch's progress bar; the checks that must pass before
Prefect starts (signing keys)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from congvan.cli_base import error
from congvan.errors import CongVanError
from congvan.i18n import _

if TYPE_CHECKING:
    from congvan.config import LoadedCampaign
    from congvan.settings import Settings

R = TypeVar("R")


def run_flow(name: str, kind: type[R], *, progress: bool, **parameters: Any) -> R:
    """Run a flow in this process; a run that ends Failed is a user error (one line, exit 2)."""
    # Prefect's INFO lines would bury the progress bar and the table; its warnings and errors still show.
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    patient_embedded_api()
    os.environ.setdefault("DO_NOT_TRACK", "1")  # no "Prefect collects anonymous usage data" notice on a first run
    from flows import approve as approve_flow
    from flows import dispatch as dispatch_flow
    from flows import escalate as escalate_flow

    flows: dict[str, Any] = {"dispatch": dispatch_flow.dispatch, "escalate": escalate_flow.escalate,
                             "approve": approve_flow.approve}
    bar: Any = None

    def show(done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty():  # a log or a pipe: one line, not a bar's label without its newline
            if bar is None:
                bar = False
                typer.echo(_("Sending {total} message(s)…").format(total=total), err=True)
            return
        if bar is None:
            bar = typer.progressbar(length=total, label=_("Sending"), file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    from flows.steps import progress_to, sent_before_exit, watched_here

    try:
        with watched_here(), progress_to(show) if progress else contextlib.nullcontext():
            state = flows[name](return_state=True, **parameters)
        sent_before_exit()
    finally:
        if bar is not None and bar is not False:
            bar.__exit__(None, None, None)
    from flows.steps import outcome_of

    try:
        return outcome_of(state, name, kind)
    except CongVanError as exc:
        error(str(exc))
        raise typer.Exit(code=2) from None


def signing_preflight(settings: Settings, lc: LoadedCampaign, signers: list[str]) -> None:
    """With signing on, the keys of these signers and of the organisation must work now (one line if not)."""
    if settings.signing_keys is None:
        return
    from congvan.signoff import signoff_for

    signoff = signoff_for(settings, lc)
    assert signoff is not None
    with signoff:
        signoff.preflight(signers)


def patient_embedded_api() -> None:
    """The embedded Prefect API starts with the first flow run; on a busy machine its default 20 s wait ends
    in a traceback (seen while three test suites shared two cores)."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
