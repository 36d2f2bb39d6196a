"""congvan scaled out, for real (docs/operations.md, docs/design.md §8.5): a Prefect server on PostgreSQL (the
tests' shared one, tests/prefect_api.py: the app `prefect server start` serves), the process work pool
``congvan``, the deployments of ``prefect.yaml`` made with
``prefect --no-prompt deploy --all``, and two ``prefect worker start --pool congvan`` processes (two
"machines": each its own PREFECT_HOME and working folder, the same code, venv and CONGVAN_* settings),
congvan's state in a PostgreSQL schema, and a mail catcher.

Runs are triggered through the server (the CLI for the dispatch, the client for the escalations) and
read back from it; what each unit got is read from the catcher and compared with the ledger.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from forkserver import cli_command
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterKey,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect_api import SHARED_API_LOG
from sqlalchemy.engine import Engine
from support import ROOT, edit_yaml, project_copy

from congvan.mailcatcher import CatcherOptions, MailCatcher
from congvan.store.models import Approval, Delivery, Document

pytestmark = [pytest.mark.scaleout, pytest.mark.postgres]

CAMPAIGN = "par-index-2022"
APPROVED = "snv-approval"  # the campaign whose dispatch waits for its signer
POOL = "congvan"
BATCH = 10  # CONGVAN_SMTP_BATCH_SIZE: messages per SMTP connection and per Prefect task
WORKERS = ("scaleout-w1", "scaleout-w2")
LAGGING = {"EAHLEO": 0, "KPAC": 5, "STNMT": 10}  # unit -> how many of its staff answer
REMINDER_DAY, LETTER_DAY = "2023-02-21", "2023-02-27"  # deadline 24/02: nhac-nho at −3, don-doc at +1
VN = ZoneInfo("Asia/Ho_Chi_Minh")
BIN = Path(sys.executable).parent
TIMEOUT = 240.0
SLOW_SMTP = 1.0  # seconds per message on the slow mail server: two runs at once surely overlap


# --- subprocesses ---------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        return _tail(self.name, self.log, lines)


def _tail(name: str, log: Path, lines: int = 40) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return f"--- {name} ({log}) ---\n" + "\n".join(text.splitlines()[-lines:])


def _start(name: str, args: list[str], env: dict[str, str], cwd: Path, logs: Path) -> Proc:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    return Proc(name, popen, log)


def _stop(*procs: Proc, grace: float = 10.0) -> None:
    """SIGTERM each process group, SIGKILL what is left after ``grace`` seconds. (A Prefect 3.9 worker
    turns SIGTERM into SIGINT and, idle or not, may not exit on it: only its second signal kills it.)"""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 10.0)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
    for proc in procs:  # children that outlived their parent
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signal.SIGKILL)


def _wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5,
              diagnose: Callable[[], str] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{diagnose()}", pytrace=False)
        time.sleep(interval)


# --- the cluster ----------------------------------------------------------------------------------


@dataclass
class Cluster:
    api_url: str
    home: Path  # CONGVAN_HOME: the checkout every worker has (here: a copy of config/, templates/, flows/)
    env: dict[str, str]  # what a worker machine and the CLI get: PREFECT_API_URL and CONGVAN_*
    db_url: str  # congvan's state
    catcher: MailCatcher
    slow_catcher: MailCatcher  # the same, answering each message after SLOW_SMTP seconds
    server_log: Path
    workers: list[Proc]
    logs: Path
    measured: dict[str, Any] = field(default_factory=dict)

    def diagnose(self) -> str:
        return "\n".join([_tail("the Prefect server", self.server_log), *(p.tail() for p in self.workers)])

    def command(self, *args: str, timeout: float = 120, cwd: Path | None = None,
                **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(list(args), cwd=cwd or self.home, env={**self.env, **env}, capture_output=True,
                                text=True, encoding="utf-8", errors="replace", timeout=timeout, check=False)
        assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n" \
                                       f"{result.stderr}\n{self.diagnose()}"
        return result

    def prefect(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.command(str(BIN / "prefect"), *args, **kwargs)

    def congvan(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.command(*cli_command(*args))  # forked from the tests' fork server: 5 s of CPU less each

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        from prefect import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings({PREFECT_API_URL: self.api_url}), get_client(sync_client=True) as client:
            yield client

    def engine(self, db_url: str | None = None) -> Engine:
        from congvan.store import make_engine

        return make_engine(db_url or self.db_url)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_server: Engine,
            prefect_api_on_postgres: str) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("scaleout")
    logs = tmp / "logs"
    logs.mkdir()
    schema = f"scaleout_{uuid.uuid4().hex[:10]}"
    base_url = postgres_server.url.set(query={})
    with contextlib.ExitStack() as stack:
        # congvan's state in a PostgreSQL schema of its own.
        with postgres_server.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        stack.callback(_drop_schema, postgres_server, schema)
        db_url = base_url.set(drivername="postgresql+psycopg").update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)

        home = _checkout(tmp)
        catcher = stack.enter_context(MailCatcher(tmp / "mailbox"))
        slow_catcher = stack.enter_context(MailCatcher(tmp / "mailbox-slow",
                                                       options=CatcherOptions(delay_seconds=SLOW_SMTP)))
        api_url = prefect_api_on_postgres
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CONGVAN_"))}
        clean.update(PYTHONIOENCODING="utf-8", PREFECT_SERVER_ANALYTICS_ENABLED="false", CONGVAN_LANG="en",
                     PREFECT_HOME=str(tmp / "prefect-home-cli"))
        # The API is plain HTTP on loopback: one certificate for Prefect's clients to load, not certifi's 150
        # (tests/conftest.py; each worker, flow run and `prefect` command makes clients, 40 ms each).
        env = {**clean, "PREFECT_API_URL": api_url,
               "PREFECT_API_SSL_CERT_FILE": os.environ["PREFECT_API_SSL_CERT_FILE"],
               "CONGVAN_CONFIG_DIR": str(home / "config"), "CONGVAN_TEMPLATES_DIR": str(home / "templates"),
               "CONGVAN_OUTPUT_DIR": str(tmp / "outputs"), "CONGVAN_DATABASE_URL": db_url,
               "CONGVAN_SMTP_HOST": "127.0.0.1", "CONGVAN_SMTP_PORT": str(catcher.port),
               "CONGVAN_SMTP_BATCH_SIZE": str(BATCH), "CONGVAN_SMTP_ATTEMPTS": "2", "CONGVAN_SMTP_BACKOFF": "0.1"}
        measured: dict[str, Any] = {}
        server_log = Path(os.environ.get(SHARED_API_LOG, logs / "no-server-log"))

        cluster = Cluster(api_url, home, env, db_url, catcher, slow_catcher, server_log, [], logs, measured)
        t0 = time.monotonic()
        cluster.prefect("work-pool", "create", POOL, "--type", "process")
        cluster.prefect("--no-prompt", "deploy", "--all", CONGVAN_HOME=str(home))
        measured["work pool + deploy --all (s)"] = time.monotonic() - t0

        t0 = time.monotonic()
        # Stopped before the mail catchers (callbacks run last-in first-out); by then their runs are over.
        stack.callback(lambda: _stop(*cluster.workers, grace=3.0))
        for name in WORKERS:
            machine = tmp / name
            machine.mkdir()
            # --limit 1: a busy worker leaves the next run to the other one, so runs at once are spread
            # over both "machines".
            worker = _start(name, [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", name,
                                   "--limit", "1"], {
                **env, "PREFECT_HOME": str(machine / "prefect-home"),
                "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            }, machine, logs)
            cluster.workers.append(worker)
        _wait_for("both workers online", lambda: _online(cluster) >= set(WORKERS), 90,
                  diagnose=cluster.diagnose)
        measured["workers online (s)"] = time.monotonic() - t0
        yield cluster
        print("\nscale-out measurements:", {k: round(v, 1) if isinstance(v, float) else v
                                              for k, v in measured.items()})


def _checkout(tmp: Path) -> Path:
    """What each worker machine has at CONGVAN_HOME: config/, templates/, flows/ and prefect.yaml."""
    home = project_copy(tmp)
    shutil.copytree(ROOT / "flows", home / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "prefect.yaml", home / "prefect.yaml")
    # The PDF has its own tests; here the mail path, with the .docx as the attachment.
    edit_yaml(home / "config" / "campaigns" / f"{CAMPAIGN}.yaml", lambda c: c.update(pdf=False, attach=["docx"]))

    # One deployment more, in this copy only: the escalation without the deployment's concurrency
    # limit, so that two runs of the same campaign really do run at once (as a manual `congvan
    # escalate` and the scheduled run would); then only congvan's own guards stand between them.
    def unlimited(spec: Any) -> None:
        spec["deployments"].append({"name": "escalate-unlimited", "entrypoint": "flows/escalate.py:escalate",
                                    "work_pool": {"name": POOL}, "parameters": {"campaign": CAMPAIGN}})

    edit_yaml(home / "prefect.yaml", unlimited)

    # A campaign of the Sở Nội vụ (its own register) that keeps the sample's approval: its dispatch waits
    # for the Director, who decides in the Prefect UI (test_the_signer_decides_through_the_server).
    def of_the_department(c: Any) -> None:
        c.update(authority="snv-daklak", signer="giam-doc", approval="signer", luu="VT, CCHC.")
        c.pop("follow_up")

    shutil.copy(home / "config" / "campaigns" / f"{CAMPAIGN}.yaml", home / "config" / "campaigns" / f"{APPROVED}.yaml")
    edit_yaml(home / "config" / "campaigns" / f"{APPROVED}.yaml", of_the_department)
    return home


def _online(cluster: Cluster) -> set[str]:
    for worker in cluster.workers:
        if worker.popen.poll() is not None:
            pytest.fail(f"{worker.name} exited {worker.popen.returncode}\n{worker.tail()}", pytrace=False)
    with cluster.client() as client:
        return {w.name for w in client.read_workers_for_work_pool(POOL) if w.status.value == "ONLINE"}


def _drop_schema(server: Engine, name: str) -> None:
    with server.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))


# --- reading back ---------------------------------------------------------------------------------


def _wait_runs(cluster: Cluster, ids: list[Any], timeout: float = TIMEOUT) -> list[Any]:
    def final() -> list[Any] | None:
        with cluster.client() as client:
            runs = [client.read_flow_run(i) for i in ids]
        return runs if all(r.state is not None and r.state.is_final() for r in runs) else None

    runs: list[Any] = _wait_for("the flow runs to finish", final, timeout, interval=1, diagnose=cluster.diagnose)
    for run in runs:
        assert run.state.is_completed(), f"{run.name}: {run.state.name} {run.state.message}\n{cluster.diagnose()}"
    return runs


def _task_runs(cluster: Cluster, flow_run_id: Any, expect_last: str) -> list[Any]:
    """The flow run's task runs as the server recorded them (the recorder writes in batches: wait for
    the last task to appear)."""
    def recorded() -> list[Any] | None:
        with cluster.client() as client:
            found = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                                          limit=200)
        done = all(t.state is not None and t.state.is_final() for t in found)
        return found if done and any(_task(t) == expect_last for t in found) else None

    result: list[Any] = _wait_for("the task runs to be recorded", recorded, 60, interval=1,
                                  diagnose=cluster.diagnose)
    return result


def _task(task_run: Any) -> str:
    return str(task_run.name).rpartition("-")[0]


def _received(*catchers: MailCatcher) -> Counter[tuple[str, str]]:
    """(recipient, Message-ID) -> how many times the SMTP servers accepted it."""
    got: Counter[tuple[str, str]] = Counter()
    for catcher in catchers:
        for stored in catcher.stored():
            for rcpt in stored.rcpt_tos:
                got[(rcpt.lower(), str(stored.message()["Message-ID"]))] += 1
    return got


def _ledger(cluster: Cluster, db_url: str | None = None) -> list[Any]:
    engine = cluster.engine(db_url)
    try:
        with engine.connect() as conn:
            d, doc = Delivery.__table__.c, Document.__table__.c
            return list(conn.execute(
                sa.select(d.address, d.message_id, d.status, d.unit, doc.kind, doc.unit.label("doc_unit"),
                          doc.level, doc.number)
                .join(Document.__table__, doc.id == d.document_id)))
    finally:
        engine.dispose()


def _documents(cluster: Cluster, db_url: str | None = None) -> list[Any]:
    engine = cluster.engine(db_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(Document.__table__)))
    finally:
        engine.dispose()


def _assert_each_delivery_once(cluster: Cluster) -> list[Any]:
    """Every delivery of the ledger reached the SMTP server once, and nothing else did."""
    received = _received(cluster.catcher, cluster.slow_catcher)
    twice = {k: n for k, n in received.items() if n > 1}
    assert not twice, f"delivered more than once (recipient, Message-ID): {twice}"
    ledger = _ledger(cluster)
    statuses = Counter(str(getattr(r.status, "value", r.status)) for r in ledger)
    assert set(statuses) == {"sent"}, statuses
    assert set(received) == {(r.address.lower(), r.message_id) for r in ledger}
    numbers = Counter((d.register, d.year, d.number) for d in _documents(cluster) if d.number is not None)
    assert all(n == 1 for n in numbers.values()), f"register numbers taken twice: {numbers}"
    return ledger


def _overlap(runs: list[Any]) -> bool:
    a, b = runs
    return bool(a.start_time < b.end_time and b.start_time < a.end_time)


# --- the runs -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dispatched(cluster: Cluster) -> dict[str, Any]:
    """The dispatch, triggered as an operator does: ``prefect deployment run … --watch``."""
    t0 = time.monotonic()
    result = cluster.prefect("deployment", "run", "dispatch/dispatch", "--param", f"campaign={CAMPAIGN}",
                             "--param", "as_of=2023-02-10", "--watch", "--watch-timeout", str(int(TIMEOUT)),
                             timeout=TIMEOUT + 30)
    cluster.measured["dispatch run, trigger to Completed (s)"] = time.monotonic() - t0
    match = re.search(r"UUID: ([0-9a-f-]{36})", result.stdout)
    assert match, result.stdout
    (run,) = _wait_runs(cluster, [uuid.UUID(match.group(1))])
    cluster.measured["dispatch run, Running to Completed (s)"] = (run.end_time - run.start_time).total_seconds()
    return {"run": run, "stdout": result.stdout}


def test_dispatch_through_the_server_reaches_every_unit_once(cluster: Cluster, dispatched: dict[str, Any]) -> None:
    run = dispatched["run"]
    assert run.labels.get("prefect.worker.name") in WORKERS
    assert run.work_pool_name == POOL
    ledger = _assert_each_delivery_once(cluster)
    dispatch = [r for r in ledger if r.kind == "dispatch"]
    units = Counter(r.unit for r in dispatch if r.unit)
    assert len(units) == 36 and set(units.values()) == {1}, units  # each of the 36 units, once
    assert len(dispatch) == 38  # and the two copies

    # Task runs grow with batches, not with letters: 38 messages in batches of 10 are 4 send tasks.
    tasks = Counter(_task(t) for t in _task_runs(cluster, run.id, expect_last="report"))
    batches = math.ceil(len(dispatch) / BATCH)
    assert tasks["send batch"] == batches, tasks
    others = sum(tasks.values()) - batches
    assert others <= 10, tasks  # validate, preflight, check, number, render, plan, report: a constant
    cluster.measured["dispatch task runs"] = sum(tasks.values())

    with cluster.client() as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[f"dispatch-{CAMPAIGN}"])))
    (artifact,) = [a for a in artifacts if a.flow_run_id == run.id]
    assert artifact.type == "table"
    assert artifact.description.startswith("Công văn số 01/UBND-KSTTHC: 38 sent, 0 failed, 0 pending")


def test_the_escalation_is_scheduled_at_8_on_weekdays_in_vietnam(cluster: Cluster) -> None:
    with cluster.client() as client:
        deployment = client.read_deployment_by_name(f"escalate/escalate-{CAMPAIGN}")
        (schedule,) = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 8 * * 1-5", "Asia/Ho_Chi_Minh")
        assert schedule.active and schedule.parameters == {"campaign": CAMPAIGN}
        assert deployment.global_concurrency_limit is not None and deployment.global_concurrency_limit.limit == 1
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(cluster.home)}}]

        def scheduled() -> list[Any]:
            with cluster.client() as c:
                return list(c.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                    flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))))

        # What the server's scheduler service does every minute (it does not run on the tests' API, a server of
        # the ephemeral kind): the deployment's schedules turned into runs, through the API's own call for it.
        client.request("POST", "/deployments/{id}/schedule", path_params={"id": deployment.id},
                       json={"min_runs": 3})
        runs = _wait_for("the scheduled escalation runs", scheduled, 60, interval=1, diagnose=cluster.diagnose)
        for run in runs:
            local = run.expected_start_time.astimezone(VN)
            assert (local.hour, local.minute, local.weekday() < 5) == (8, 0, True), local
            assert run.parameters == {"campaign": CAMPAIGN}
        # The runs fire at 08:00 Vietnam time, days from now: switch the schedule off so that none of
        # them can take the deployment's slot while the next test runs, whatever the hour.
        client.update_deployment_schedule(deployment.id, schedule.id, active=False)


def test_two_escalations_at_once_send_each_step_once(cluster: Cluster, dispatched: dict[str, Any],
                                                    tmp_path: Path) -> None:
    # The roster and the survey's answers, loaded with congvan's CLI as a coordinator would.
    out = cluster.congvan("roster", "import", CAMPAIGN)
    assert "roster of 540 staff loaded" in out.stdout, out.stdout
    answers = _answers(cluster.home, tmp_path / "answers.csv")
    out = cluster.congvan("responses", "import", CAMPAIGN, str(answers))
    assert "new response(s)" in out.stdout, out.stdout

    # 1. The scheduled deployment (concurrency_limit 1): two runs of the same day at once; the
    #    server holds the second until the first is done.
    with cluster.client() as client:
        deployment = client.read_deployment_by_name(f"escalate/escalate-{CAMPAIGN}")
        t0 = time.monotonic()
        ids = [client.create_flow_run_from_deployment(deployment.id, parameters={
            "campaign": CAMPAIGN, "as_of": REMINDER_DAY}).id for _ in range(2)]
    runs = _wait_runs(cluster, ids)
    cluster.measured["2 limited escalation runs, trigger to both Completed (s)"] = time.monotonic() - t0
    assert not _overlap(runs), [(r.start_time, r.end_time) for r in runs]
    with cluster.client() as client:
        queued = [any(s.name == "AwaitingConcurrencySlot" for s in client.read_flow_run_states(r.id)) for r in runs]
    cluster.measured["limited pair: runs that waited for the slot"] = sum(queued)
    ledger = _assert_each_delivery_once(cluster)
    reminders = Counter(r.unit for r in ledger if r.kind == "mail")
    assert reminders == Counter(set(LAGGING)), reminders  # one reminder per lagging unit's mailbox

    # 2. Two runs at once that the server lets run together (the deployment without a limit):
    #    each step still goes out once, each letter with a number of its own. They use a slow mail
    #    server (the flow run's job variables override the worker's environment), so that the second
    #    starts while the first is still sending.
    with cluster.client() as client:
        unlimited = client.read_deployment_by_name("escalate/escalate-unlimited")
        t0 = time.monotonic()
        slow = {"env": {"CONGVAN_SMTP_PORT": str(cluster.slow_catcher.port)}}
        ids = [client.create_flow_run_from_deployment(unlimited.id, job_variables=slow, parameters={
            "campaign": CAMPAIGN, "as_of": LETTER_DAY}).id for _ in range(2)]
    runs = _wait_runs(cluster, ids)
    cluster.measured["2 unlimited escalation runs, trigger to both Completed (s)"] = time.monotonic() - t0
    # They did run at once, one on each worker: what is left to keep them apart is congvan's own
    # guards (the ledger's rows before SMTP, the campaign lock, the register's unique numbers).
    assert {r.labels.get("prefect.worker.name") for r in runs} == set(WORKERS), [r.labels for r in runs]
    assert _overlap(runs), [(r.start_time, r.end_time) for r in runs]
    first, second = sorted(runs, key=lambda r: r.start_time)
    cluster.measured["unlimited pair: start gap, Running time of the first (s)"] = (
        round((second.start_time - first.start_time).total_seconds(), 1),
        round((first.end_time - first.start_time).total_seconds(), 1))
    ledger = _assert_each_delivery_once(cluster)
    letters = [d for d in _documents(cluster) if d.kind == "letter"]
    assert Counter(d.unit for d in letters) == Counter(set(LAGGING)), \
        [(d.unit, d.level, d.number) for d in letters]
    assert sorted(d.number for d in letters) == [2, 3, 4]  # 01 is the dispatch
    assert len(cluster.slow_catcher.stored()) == len(LAGGING)  # one message each, through the slow server
    letter_mail = Counter(r.unit for r in ledger if r.kind == "letter")
    assert set(letter_mail) == set(LAGGING), letter_mail  # to each head, the mailbox in Cc

    # Every run is in the server, Completed, with the worker that ran it; the letters' table is published.
    with cluster.client() as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[f"escalate-{CAMPAIGN}"])))
        everything = client.read_flow_runs(work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[POOL])))
    assert {a.flow_run_id for a in artifacts} >= set(ids)
    # The scheduled 08:00 runs (days ahead, their schedule switched off by the schedule test) have not run:
    # they wait, on no worker.
    scheduled = [r for r in everything if "auto-scheduled" in r.tags]
    assert all(r.state_name == "Scheduled" and not r.labels.get("prefect.worker.name") for r in scheduled), scheduled
    ran = {(r.name, r.state_name, r.labels.get("prefect.worker.name")) for r in everything if r not in scheduled}
    assert len(ran) == 5 and {state for _, state, _ in ran} == {"Completed"}, ran  # 1 dispatch, 2 + 2 escalations
    assert {worker for _, _, worker in ran} == set(WORKERS), ran
    cluster.measured["runs per worker"] = dict(Counter(worker for _, _, worker in ran))
    for worker in cluster.workers:
        assert "Traceback" not in worker.log.read_text(encoding="utf-8", errors="replace"), worker.tail(200)


def _answers(home: Path, path: Path) -> Path:
    """A survey export in which everyone answered except some staff of the LAGGING units."""
    sheet = openpyxl.load_workbook(home / "config" / "rosters" / f"{CAMPAIGN}.xlsx", read_only=True).active
    seen: Counter[str] = Counter()
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Mã cán bộ", "Thời gian hoàn thành"])
        for staff_id, _name, _position, unit, _email in list(sheet.iter_rows(values_only=True))[1:]:
            seen[unit] += 1
            if unit not in LAGGING or seen[unit] <= LAGGING[unit]:
                out.writerow([staff_id, dt.datetime(2023, 2, 15, 9, 0, tzinfo=VN).isoformat()])
    return path


# --- a worker killed mid-dispatch -----------------------------------------------------------------

# What the operator runs to mark the dead worker's run Crashed (docs/operations.md §8, "After a worker
# dies"): the self-hosted server leaves it Running, and `prefect flow-run retry` takes only a run in a
# final state.
MARK_CRASHED = """import sys
from prefect import get_client
from prefect.states import Crashed
with get_client(sync_client=True) as client:
    client.set_flow_run_state(sys.argv[1], Crashed(message="its worker died"), force=True)
"""
KILL_SMTP = 0.3  # seconds per message: the 38 messages take about 11 s, time enough to kill the worker mid-way


def _process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it, from /proc (a flow run's subprocess is started in a
    session of its own: the worker's process group does not hold it)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rpartition(")")[2].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _kill_worker(worker: Proc) -> list[int]:
    """SIGKILL the worker and everything it started, the worker first (so it cannot report its flow
    run's end): a machine that loses power."""
    tree = _process_tree(worker.popen.pid)
    groups = set()
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
            os.kill(pid, signal.SIGKILL)
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    worker.popen.wait(10)
    _wait_for("the killed processes to be gone", lambda: not any(_alive(p) for p in tree), 10)
    return tree


def test_a_worker_killed_mid_dispatch_and_the_run_retried_loses_and_doubles_no_letter(
        cluster: Cluster, postgres_server: Engine, tmp_path: Path) -> None:
    # A campaign state of its own (a fresh schema, output folder and slow mail server), handed to the
    # run in its job variables: the dispatch starts from nothing, whatever the tests before did.
    schema = f"scaleout_kill_{uuid.uuid4().hex[:10]}"
    with postgres_server.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    db_url = postgres_server.url.set(drivername="postgresql+psycopg", query={}).update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with contextlib.ExitStack() as stack:
        stack.callback(_drop_schema, postgres_server, schema)
        catcher = stack.enter_context(MailCatcher(tmp_path / "mailbox", options=CatcherOptions(
            delay_seconds=KILL_SMTP)))
        env = {"CONGVAN_DATABASE_URL": db_url, "CONGVAN_SMTP_PORT": str(catcher.port),
               "CONGVAN_OUTPUT_DIR": str(tmp_path / "outputs")}

        with cluster.client() as client:
            deployment = client.read_deployment_by_name("dispatch/dispatch")
            t0 = time.monotonic()
            run_id = client.create_flow_run_from_deployment(deployment.id, job_variables={"env": env}, parameters={
                "campaign": CAMPAIGN, "as_of": "2023-02-10"}).id

        # A few messages out, the run's worker loses power: the worker and its flow run's process.
        _wait_for("the first messages", lambda: len(catcher.stored()) >= 3, 120, interval=0.1,
                  diagnose=cluster.diagnose)
        with cluster.client() as client:
            running = client.read_flow_run(run_id)
        name = running.labels.get("prefect.worker.name")
        (victim,) = [w for w in cluster.workers if w.name == name]
        killed = _kill_worker(victim)
        assert len(killed) >= 2, killed  # the worker and (at least) the flow run's process
        time.sleep(2 * KILL_SMTP)  # the message in flight, if any, lands in the mailbox
        at_kill = len(catcher.stored())
        assert 3 <= at_kill < 38, at_kill
        cluster.measured["kill: messages received before the kill"] = at_kill

        # Nothing on a self-hosted server notices: the run stays Running (a zombie) and cannot be retried.
        time.sleep(3)
        with cluster.client() as client:
            zombie = client.read_flow_run(run_id)
        assert zombie.state is not None and zombie.state.type == StateType.RUNNING, zombie.state
        assert len(catcher.stored()) == at_kill  # and nothing more is sent
        refused = subprocess.run([str(BIN / "prefect"), "flow-run", "retry", str(run_id)], env=cluster.env,
                                 cwd=cluster.home, capture_output=True, text=True, timeout=120, check=False)
        assert refused.returncode != 0, refused
        assert "in state 'RUNNING' and cannot be retried" in " ".join((refused.stdout + refused.stderr).split())

        # The operator marks it Crashed, then retries it: the same run, with the same parameters and job
        # variables, goes back to the pool, and the worker still up picks it up.
        t1 = time.monotonic()
        cluster.command(sys.executable, "-c", MARK_CRASHED, str(run_id))
        cluster.prefect("flow-run", "retry", str(run_id))
        (run,) = _wait_runs(cluster, [run_id], timeout=120)
        cluster.measured["kill: retry to Completed, trigger to Completed (s)"] = (
            round(time.monotonic() - t1, 1), round(time.monotonic() - t0, 1))
        assert run.labels.get("prefect.worker.name") in set(WORKERS) - {name}, run.labels
        with cluster.client() as client:
            states = [s.type for s in client.read_flow_run_states(run_id)]
        assert StateType.CRASHED in states and states[-1] == StateType.COMPLETED, states

        # Every recipient got the dispatch under one Message-ID; at most the message in flight at the
        # kill came twice (the same Message-ID: accepted by the server, not yet committed as sent).
        ledger = _ledger(cluster, db_url)
        assert len(ledger) == 38 and {str(getattr(r.status, "value", r.status)) for r in ledger} == {"sent"}, ledger
        assert {r.kind for r in ledger} == {"dispatch"}
        assert len(Counter(r.unit for r in ledger if r.unit)) == 36
        received = _received(catcher)
        assert set(received) == {(r.address.lower(), r.message_id) for r in ledger}
        per_address = Counter(address for address, _ in received)
        assert set(per_address.values()) == {1}, per_address  # one Message-ID each
        twice = {k: n for k, n in received.items() if n > 1}
        assert len({mid for _, mid in twice}) <= 1 and set(twice.values()) <= {2}, twice
        cluster.measured["kill: messages received twice"] = len({mid for _, mid in twice})
        (document,) = _documents(cluster, db_url)
        assert (document.kind, document.number) == ("dispatch", 1)


def test_the_signer_decides_through_the_server(cluster: Cluster) -> None:
    """The approval as the Prefect UI gives it: the dispatch run drafts and publishes what waits (an
    artifact), the approver starts the ``approve`` deployment with the decision as its parameters (what the
    UI's form posts: ``create_flow_run_from_deployment``), a worker records and issues it. Last in this
    module: it adds a campaign's mail to the ledger and the catcher the tests above count."""
    cluster.prefect("deployment", "run", "dispatch/dispatch", "--param", f"campaign={APPROVED}",
                    "--param", "as_of=2023-03-01", "--watch", "--watch-timeout", str(int(TIMEOUT)),
                    timeout=TIMEOUT + 30)
    engine = cluster.engine()
    try:
        with engine.connect() as conn:
            drafted = conn.execute(sa.select(Approval.__table__).where(Approval.campaign == APPROVED)).one()
            numbered = conn.execute(sa.select(sa.func.count()).select_from(Document)
                                    .where(Document.campaign == APPROVED)).scalar_one()
        assert _value(drafted.status) == "pending" and numbered == 0

        with cluster.client() as client:
            artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"pending-{APPROVED}"])))
            assert artifacts, "the pending artifact was not published"
            latest = max(artifacts, key=lambda a: a.created)
            assert latest.description.startswith(f"1 document(s) of {APPROVED} await the signer's approval")
            assert drafted.draft_path in str(latest.data)
            deployment = client.read_deployment_by_name("approve/approve")
            run = client.create_flow_run_from_deployment(deployment.id, parameters={
                "campaign": APPROVED, "by": "Nguyễn Văn Hải", "comment": "Đồng ý ban hành", "as_of": "2023-03-01"})
        (done,) = _wait_runs(cluster, [run.id])
        assert done.labels.get("prefect.worker.name") in WORKERS

        with engine.connect() as conn:
            decided = conn.execute(sa.select(Approval.__table__).where(Approval.campaign == APPROVED)).one()
            (document,) = conn.execute(sa.select(Document.__table__).where(Document.campaign == APPROVED)).all()
            statuses = conn.execute(sa.select(Delivery.status).where(Delivery.document_id == document.id)).all()
        # congvan's database holds the decision: who, when, from where (the deployment and its run), why.
        assert (_value(decided.status), decided.decided_by, decided.comment) == (
            "issued", "Nguyễn Văn Hải", "Đồng ý ban hành")
        assert decided.decided_via == f"prefect deployment approve, flow run {run.id}"
        assert decided.decided_at is not None and decided.document_id == document.id
        assert (document.number, document.symbol) == (1, "SNV-CCHC")
        assert len(statuses) == 38 and {_value(s) for (s,) in statuses} == {"sent"}
    finally:
        engine.dispose()


def _value(status: Any) -> str:
    """A status read back with its model's enum, or as the plain string stored."""
    return str(getattr(status, "value", status))
