"""The tests' Prefect API: the same ``uvicorn … prefect.server.api.server:create_app`` process that
``prefect_test_harness`` starts (no UI, no telemetry), without importing ``prefect.server`` into a test process
(about 7 s of CPU a process).

Starting one costs about 16 s of CPU (migrations on a fresh database) and it then serves every flow run, so a run
of the suite starts one: under pytest-xdist the controller starts it on PostgreSQL (``shared_on_postgres``; a
shared one on SQLite answered 503 while several workers wrote to it) before the workers start, and each worker
waits for it to answer. A run without workers starts one on PostgreSQL in its session (``on_postgres``), or
without PostgreSQL one on SQLite (``server``). It is the app `prefect server start` serves, with the services of
Prefect's own ephemeral server (no scheduler, no late-run or zombie sweeps: tests/test_scaleout.py, whose workers
use it, asks the API to schedule a deployment's runs as the scheduler would).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

SHARED_API = "CONGVAN_TEST_PREFECT_API_URL"  # a Prefect API every test process uses, if set
SHARED_API_LOG = "CONGVAN_TEST_PREFECT_API_LOG"  # and its log
SHARED_API_DATABASE = "CONGVAN_TEST_PREFECT_API_DATABASE"  # and its database (a synchronous SQLAlchemy URL)
STARTUP_TIMEOUT = 180.0  # seconds; on a loaded 2-core machine migrating a fresh database takes up to a minute


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _launch(folder: Path, database_url: str, settings: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes],
                                                                                               str]:
    """Start a server on ``database_url`` (its home and log in ``folder``); return it and its URL at once."""
    from support import free_port

    spec = importlib.util.find_spec("prefect")  # its folder, without importing it (1–2 s in the controller)
    assert spec is not None and spec.submodule_search_locations, "Prefect is not installed"
    site = Path(next(iter(spec.submodule_search_locations))).parent
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_HOME": str(folder / "prefect-home"),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url,
        # Nothing in the tests reads the event feed or sets automations: not storing every event, nor matching
        # each against triggers, is a fifth of what the server does per run (py-spy). Task runs are still
        # recorded (test_hostile and tests/test_scaleout.py read them).
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false", "PREFECT_SERVER_SERVICES_ACTIONS_ENABLED": "false",
        # Task runs recorded a hundred to a transaction (one each by default), at most a second late.
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
        "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
        # For tests/test_scaleout.py, quicker than production so that it does not wait: a queued run retries its
        # deployment's concurrency slot every second (30 s by default).
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "1",
    })
    env.update(settings or {})
    with (folder / "prefect-server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(site), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level",
             "error", "--lifespan", "on"], env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}/api"


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_healthy(url: str, *, log: Path | str, process: subprocess.Popen[bytes] | None = None,
                       timeout: float = STARTUP_TIMEOUT) -> str:
    """``url`` once its server answers; an error naming the server's log if it ends or does not answer in time."""
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"the test Prefect server at {url} did not start: see {log}")
        time.sleep(0.2)
    return url


@dataclass(frozen=True)
class Started:
    """A server that was started: its API's URL, its log, where it keeps what it records (for tests that search
    it), and what stops it."""

    url: str
    log: Path
    database: str
    stop: Callable[[], None]

    def environ(self) -> dict[str, str]:
        """The variables through which test processes find this server."""
        return {SHARED_API: self.url, SHARED_API_LOG: str(self.log), SHARED_API_DATABASE: self.database}


@contextmanager
def server(folder: Path, *, settings: dict[str, str] | None = None) -> Iterator[Started]:
    """A server with its SQLite database in ``folder``, running while the context lasts, once it answers."""
    database = folder / "prefect.db"
    process, url = _launch(folder, f"sqlite+aiosqlite:///{database}", settings)
    try:
        log = folder / "prefect-server.log"
        yield Started(wait_until_healthy(url, log=log, process=process), log, f"sqlite:///{database}",
                      lambda: _stop(process))
    finally:
        _stop(process)


def shared_on_postgres(postgres_url: str) -> Started | None:
    """Start a server on a new database of the PostgreSQL server at ``postgres_url`` and return at once (its
    ``stop`` also drops the database). None if PostgreSQL cannot be reached."""
    admin = sa.create_engine(make_url(postgres_url).set(drivername="postgresql+psycopg", query={}),
                             connect_args={"connect_timeout": 5}, poolclass=sa.NullPool,
                             isolation_level="AUTOCOMMIT")
    name = f"prefect_tests_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        return None
    database = admin.url.set(database=name)
    created = sa.create_engine(database, poolclass=sa.NullPool)
    with created.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    created.dispose()
    folder = Path(tempfile.mkdtemp(prefix="congvan-prefect-api-"))
    process, url = _launch(folder, database.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False))

    def stop() -> None:
        failed = process.poll() is not None  # it ended before the run did: its log is what tells why
        _stop(process)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if not failed:
            shutil.rmtree(folder, ignore_errors=True)

    return Started(url, folder / "prefect-server.log", database.render_as_string(hide_password=False), stop)


@contextmanager
def on_postgres(postgres_url: str) -> Iterator[Started | None]:
    """``shared_on_postgres`` for as long as the context lasts, once it answers; None without PostgreSQL."""
    started = shared_on_postgres(postgres_url)
    if started is None:
        yield None
        return
    try:
        wait_until_healthy(started.url, log=started.log)
        yield started
    finally:
        started.stop()


@contextmanager
def using(url: str) -> Iterator[str]:
    """This process's Prefect client pointed at ``url`` (as ``prefect_test_harness`` does for its own server)."""
    import prefect.context
    import prefect.settings

    with prefect.settings.temporary_settings(updates={prefect.settings.PREFECT_API_URL: url}), \
            prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()):
        yield url
        # What the runs logged and emitted goes to this server before the client forgets it.
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=10)
        EventsWorker.drain_all(timeout=10)
