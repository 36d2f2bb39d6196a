"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``CONGVAN_TEST_POSTGRES_URL`` (default: the local ``congvan_test`` database).
If it cannot be reached, its tests are skipped, or fail when ``CI=true``. Each PostgreSQL test gets
a schema of its own (through ``search_path`` in the URL, so other processes given the URL see it
too), dropped afterwards: tests never see each other's rows, and concurrent test runs do not clash.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import forkserver
import prefect_api as harness  # tests/prefect_api.py: the tests' Prefect API
import pytest
import sqlalchemy as sa
from prefect_api import SHARED_API, SHARED_API_LOG
from sqlalchemy.engine import Engine, make_url

from congvan.store import init_db, make_engine, masked_url

# The suite reads English output (msgids); tests/test_i18n.py runs commands in Vietnamese on purpose.
os.environ["CONGVAN_LANG"] = "en"
# Flows run in the test processes log as the CLI's do (congvan/cli_flow.py): Prefect's warnings and errors only.
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Every Prefect client loads its CA bundle (certifi's 140 certificates: about 0.1 s of CPU, once per flow run and
# per command), though the tests' APIs are plain HTTP on 127.0.0.1: one throwaway certificate instead.
os.environ.setdefault("PREFECT_API_SSL_CERT_FILE", str(Path(__file__).parent / "data" / "loopback-ca.pem"))

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres:postgres@localhost:5432/congvan_test"


def _postgres_url() -> str:
    return os.environ.get("CONGVAN_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Engine]:
    """An engine on the test PostgreSQL database (public schema), or skip/fail if unreachable."""
    url = _postgres_url()
    engine = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"),
                              connect_args={"connect_timeout": 5}, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL at {masked_url(url)} is unreachable ({str(exc.orig).splitlines()[0]})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true requires it (set CONGVAN_TEST_POSTGRES_URL)", pytrace=False)
        pytest.skip(f"{reason}; set CONGVAN_TEST_POSTGRES_URL to run these tests")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database (no tables yet): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'congvan.db'}"
        return
    yield from _fresh_schema(request.getfixturevalue("postgres_server"))


@pytest.fixture
def postgres_url(postgres_server: Engine) -> Iterator[str]:
    """A URL to a fresh PostgreSQL schema, for tests about PostgreSQL only."""
    yield from _fresh_schema(postgres_server)


@pytest.fixture
def other_postgres_url(postgres_server: Engine) -> Iterator[str]:
    """Another fresh schema of the same PostgreSQL database, beside ``postgres_url``'s."""
    yield from _fresh_schema(postgres_server)


def _fresh_schema(server: Engine) -> Iterator[str]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with server.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(_postgres_url()).set(drivername="postgresql+psycopg")
    url = url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with server.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, the controller starts the run's one Prefect API, on PostgreSQL (tests/prefect_api.py),
    and its one fork server (tests/forkserver.py), and goes on: the workers inherit their addresses and wait for
    them when a test first needs them. One API instead of one per worker saves 16 s of CPU per worker at start and
    its services' upkeep afterwards; one fork server, 6 s per worker."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        return
    if not os.environ.get(forkserver.SHARED):
        os.environ[forkserver.SHARED] = str(forkserver.ForkServer.start())

        def no_fork_server() -> None:
            os.environ.pop(forkserver.SHARED, None)

        config.add_cleanup(no_fork_server)
    if os.environ.get(SHARED_API):
        return
    started = harness.shared_on_postgres(_postgres_url())
    if started is None:
        return  # no PostgreSQL: each worker starts its own on SQLite (and its PostgreSQL tests skip or fail)
    os.environ.update(started.environ())

    def forget() -> None:
        started.stop()
        for name in started.environ():
            os.environ.pop(name, None)

    config.add_cleanup(forget)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Prefect API of this test process, for in-process flows and CLI runs (given as PREFECT_API_URL): the
    run's shared one if the controller started it (``pytest_configure``), else one of its own, on PostgreSQL if it
    can, else on SQLite; neither a run nor a module starts a server of its own (tests/prefect_api.py). Tests must
    not rely on the API being empty: each one filters by what it created."""
    with contextlib.ExitStack() as stack:
        url = os.environ.get(SHARED_API)
        if url:
            harness.wait_until_healthy(url, log=os.environ.get(SHARED_API_LOG, "its log"))
        else:
            started = stack.enter_context(harness.on_postgres(_postgres_url()))
            if started is not None:
                stack.enter_context(mock.patch.dict(os.environ, started.environ()))
            else:  # not shared (SHARED_API unset) for prefect_api_on_postgres to tell; found by its log and database
                started = stack.enter_context(harness.server(tmp_path_factory.getbasetemp() / "prefect-api"))
                stack.enter_context(mock.patch.dict(os.environ, {
                    k: v for k, v in started.environ().items() if k != SHARED_API}))
            url = started.url
        yield stack.enter_context(harness.using(url))


@pytest.fixture(scope="session")
def prefect_api_on_postgres(prefect_api: str) -> str:
    """The session's Prefect API, which must be on PostgreSQL (a server on SQLite answers 503 to several workers
    at once): it is unless PostgreSQL is unreachable."""
    if os.environ.get(SHARED_API) != prefect_api:
        pytest.fail("the tests' Prefect API is on SQLite: PostgreSQL was unreachable when it started", pytrace=False)
    return prefect_api


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the tables created."""
    engine = make_engine(db_url)
    init_db(engine)
    yield engine
    engine.dispose()


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups into node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`), a module whose tests share a module-scoped fixture (a Prefect
    server on PostgreSQL, the guide's walk, a built report) runs on one worker, so the fixture is built once;
    tests that start the real Postfix and Dovecot run one at a time. Every other test goes wherever a worker
    is free."""
    for item in items:
        module = getattr(item, "module", None)
        if module is None:
            continue
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info is not None else ()
        if any(d[-1].scope == "module" and d[-1].baseid.endswith(Path(module.__file__).name) for d in defs if d):
            item.add_marker(pytest.mark.xdist_group(module.__name__))
        elif info is not None and "mail_servers" in info.names_closure:
            item.add_marker(pytest.mark.xdist_group("mail_servers"))
    items.sort(key=_start_rank)  # stable: the others keep their order


# The run ends when the last test started ends: the longest start first (longest processing time first), so that
# the short ones fill the workers around them instead of a long one running alone at the end (a 25 s signing test
# did, in a run of 6 min 14 s). From `--durations` in CI, longest first; a test not named here starts after them.
LONGEST_FIRST = (
    "test_scaleout.py", "test_guide.py", "test_dispatch.py::test_demo_tells_the_whole_story",
    "test_approval.py::test_letters_wait", "test_hostile.py::test_bad_smtp_password_appears_nowhere",
    "test_escalate.py::test_five_weeks", "test_approval.py::test_the_dispatch_waits",
    "test_approval.py::test_a_rejected_dispatch", "test_signoff.py::test_letters_and_the_report",
    "test_dispatch.py::test_sigkill", "test_nd30_check.py", "test_dispatch.py::test_failures_are_reported",
    "test_escalate.py::test_a_letter_that_cannot_be_made", "test_bounces_servers.py", "test_status.py",
    "test_firstday.py", "test_pdf.py",
    "test_signoff.py", "test_signing.py",
)


def _start_rank(item: pytest.Item) -> int:
    where = item.nodeid.rpartition("tests/")[2]
    return next((i for i, prefix in enumerate(LONGEST_FIRST) if where.startswith(prefix)), len(LONGEST_FIRST))


def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker with `--dist loadgroup`, each grouped test's node id must carry its group by now, or the
    groups are silently ignored (as with pytest 9.2 and pytest-xdist 3.8: each worker built the scale-out cluster
    once more). Fail loudly instead."""
    if not session.config.getoption("loadgroup", default=False):
        return
    lost = [item.nodeid for item in session.items
            if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid]
    if lost:
        raise pytest.UsageError(f"pytest-xdist's --dist loadgroup lost its groups ({lost[0]} and {len(lost) - 1} "
                                "more): a pytest version it does not support? (pyproject.toml pins it)")
