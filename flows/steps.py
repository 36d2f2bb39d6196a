"""How a congvan step becomes a Prefect task.

A ``CongVanError`` is the user's to fix (bad config, a letter that breaks Decree 30): the task returns
it as a value instead of raising, and the flow ends Failed with its one-line message; so the run
shows the reason, with no traceback and no ERROR log line, which Prefect keeps for what is not the
user's doing. Anything else is a bug and raises as usual.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State

from congvan.errors import CongVanError, NotIssuedError, StoreError

P = ParamSpec("P")
R = TypeVar("R")


class StepFailed(Exception):
    """A step ended Failed with a user error; ``str()`` is its one-line message."""


@dataclass(frozen=True)
class UserError:
    """What a step returns instead of raising a ``CongVanError``."""

    message: str


def _store_hiccup(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry a step only when the database blinked: nothing else gets better by repeating."""
    try:
        state.result()
    except StoreError:
        return True
    except Exception:
        return False
    return False


def step(name: str, *, retries: int = 0) -> Callable[[Callable[P, R]], Any]:
    """Decorate a function as a task named ``name`` whose user errors become a Failed state."""

    def decorate(fn: Callable[P, R]) -> Any:
        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return fn(*args, **kwargs)
            except NotIssuedError as exc:
                return UserError(str(exc))  # nothing to wait for: the user must issue the dispatch first
            except StoreError as exc:
                if retries:
                    raise  # the retry condition decides
                return UserError(str(exc))
            except CongVanError as exc:
                return UserError(str(exc))

        return task(name=name, cache_policy=NO_CACHE, retries=retries, retry_delay_seconds=[2.0, 10.0, 30.0][:retries],
                    retry_condition_fn=_store_hiccup if retries else None)(guarded)

    return decorate


def flow_settings() -> Any:
    """The settings of this run; a bad ``CONGVAN_*`` value on the machine that runs it (a worker's environment) is
    ``StepFailed`` with one line per setting, so the run ends Failed with it instead of a traceback."""
    from pydantic import ValidationError

    from congvan.settings import load_settings

    try:
        return load_settings()
    except ValidationError as exc:
        lines = ["CONGVAN_" + "_".join(str(p) for p in err["loc"]).upper() + f": {err['msg']}" for err in exc.errors()]
        raise StepFailed("; ".join(lines)) from None


def outcome_of(state: Any, name: str, kind: type[R]) -> R:
    """The result of a flow run called with ``return_state=True``, of type ``kind`` (congvan.results); a run
    that did not complete is the user's to fix (its state message is the one line to show): ``CongVanError``."""
    if not state.is_completed():
        raise CongVanError(state.message or f"the {name} run ended {state.type.value.lower()}")
    result = state.result()
    assert isinstance(result, kind), f"the {name} run returned {type(result).__name__}, not {kind.__name__}"
    return result


def artifact_key(kind: str, campaign: str) -> str:
    """``dispatch-par-index-2022``: Prefect keys allow only lowercase letters, digits and dashes."""
    slug = "".join(c if c.isalnum() else "-" for c in campaign.lower()).strip("-")
    return f"{kind}-{slug}"


def run(step_task: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a step; its result, or ``StepFailed`` with its message. The arguments are plain values (a step never
    gets another's future), so they go in ``quote``d: Prefect would otherwise walk every object inside them (a
    campaign, an assessment of 1,000 units) looking for futures, about 30 ms a step for the sample campaign."""
    from prefect.utilities.annotations import quote

    state = step_task(*(quote(a) for a in args), return_state=True, **{k: quote(v) for k, v in kwargs.items()})
    if state.is_failed() or state.is_crashed():
        raise StepFailed(state.message or "step failed")
    result = state.result()
    if isinstance(result, UserError):
        raise StepFailed(result.message)
    return result


def publish_pending(engine: Any, campaign: str) -> int:
    """The documents awaiting the signer's decision as a table artifact (``pending-CAMPAIGN``): what the
    approver reads in the Prefect UI before running the ``approve`` deployment. Returns how many wait."""
    from prefect.artifacts import create_table_artifact

    from congvan import approvals

    waiting = approvals.listing(engine, campaign)
    rows = [{"id": p.id, "step": p.step, "kind": p.kind, "unit": p.unit or "", "signer": p.signer,
             "proposed_on": p.proposed_on.isoformat(), "draft": p.draft or ""} for p in waiting]
    how = (f"Run the deployment approve/approve with campaign={campaign} (and units=[…] to choose, decision="
           "reject with a reason to refuse), or: congvan approve " + campaign)
    create_table_artifact(table=rows or [{"id": "", "step": "", "kind": "", "unit": "", "signer": "",
                                          "proposed_on": "", "draft": "nothing awaits approval"}],
                          key=artifact_key("pending", campaign),
                          description=f"{len(waiting)} document(s) of {campaign} await the signer's approval. "
                                      + (how if waiting else ""))
    return len(waiting)


# Whoever starts a run may watch its sending (the CLI's progress bar): a listener for this context only (the run's
# tasks execute in it), so two runs in one process, or a run with nobody watching, never see another's.
_progress: ContextVar[Callable[[int, int], None] | None] = ContextVar("congvan_progress", default=None)


@contextmanager
def watched_here() -> Iterator[None]:
    """For flow runs started in this process by someone who waits for them (the CLI, the demo): no heartbeats.
    Prefect sends a run's heartbeat every 180 s from a thread so that a server can tell a worker's run has died;
    a person sees a run in the foreground die, and the engine waits for that thread, which sleeps in one-second
    steps, at the end of every run: an empty flow took 1.17 s with it and 0.2 s without. Runs that workers start
    from deployments keep theirs.

    The settings are the current ones with that one field changed (``model_copy``: 0.06 ms), not validated again
    from all their sources as ``temporary_settings`` does (80 ms, a command's and every in-process test run's)."""
    import prefect.context

    current = prefect.context.get_settings_context()
    settings = current.settings
    quiet = settings.model_copy(update={"flows": settings.flows.model_copy(update={"heartbeat_frequency": None})})
    with prefect.context.SettingsContext(profile=current.profile, settings=quiet):
        yield


def sent_before_exit(timeout: float = 10.0) -> bool:
    """For a process about to exit after its runs (a command, the demo): send what they queued for the API (events,
    log lines), for up to ``timeout`` seconds; whether all was sent in time. Without the heartbeat's wait a command
    reached its exit with events still queued on a loaded machine, and Prefect's exit drain then printed
    "EventsWorker - Still processing items" after the command's own last line.

    The events worker is waited for until it is empty (stopping it earlier prints that same line). The log worker
    cannot be: a batched service, it never marks its items done in Prefect 3.9, so waiting for it lasted the whole
    timeout. So then every service is drained (``drain_all``, public): each stops once what it holds is sent, and a
    later run starts new ones. Prefect 3.9 has no public way to list its running services: ``_instances`` is read."""
    import threading

    from prefect.events.worker import EventsWorker

    deadline = time.monotonic() + timeout
    running: dict[Any, Any] = getattr(EventsWorker, "_instances", {})  # every service's: the registry is shared
    waits = [threading.Thread(target=w.wait_until_empty, daemon=True) for w in list(running.values())
             if isinstance(w, EventsWorker)]  # no timeout of its own
    for wait in waits:
        wait.start()
    for wait in waits:
        wait.join(max(0.0, deadline - time.monotonic()))
    waited = EventsWorker.drain_all(timeout=max(0.0, deadline - time.monotonic()), at_exit=False)
    return not any(w.is_alive() for w in waits) and isinstance(waited, tuple) and not waited[1]


@contextmanager
def progress_to(listener: Callable[[int, int], None]) -> Iterator[None]:
    """Call ``listener(sent so far, total)`` after each message the runs started inside this block send."""
    token = _progress.set(listener)
    try:
        yield
    finally:
        _progress.reset(token)


def report_progress(done: int, total: int) -> None:
    listener = _progress.get()
    if listener is not None:
        listener(done, total)


@dataclass
class Stopwatch:
    """Seconds per stage of one run (and a few counts), returned with its result: a task keeps its own and
    returns it, the flow adds them up, so nothing is shared between runs or processes."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, amount: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + amount

    def merge(self, other: Mapping[str, float]) -> None:
        for name, amount in other.items():
            self.add(name, amount)

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.seconds.items()}
