"""Engine lifetimes (congvan.store.db.engine_scope): a run's tasks share one engine per database, and when the run
ends its connections are closed, on SQLite and on PostgreSQL: no handle left on the database file, no backend
left on the server, whether the process goes on (a worker, ``congvan serve``) or not."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from support import run_flow, spring_world

from congvan.store import db

CAMPAIGN = "par-index-2022"
ROSTER = """Mã cán bộ,Họ và tên,Chức vụ,Đơn vị,Email
K-01,Phạm Thị Dung,Phó Chủ tịch UBND,KPAC,
E-01,Y Khoa Byă,Chủ tịch UBND,EAHLEO,
"""


class Counted:
    """Every engine ``make_engine`` makes while it is installed, with the DBAPI connections each opened and closed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engines: list[Engine] = []
        self.opened: dict[int, int] = {}
        self.closed: dict[int, int] = {}
        make = db.make_engine

        def counting(url: str) -> Engine:
            engine = make(url)
            key = len(self.engines)
            self.engines.append(engine)
            self.opened[key] = self.closed[key] = 0
            sa.event.listen(engine, "connect", lambda *_: self._add(self.opened, key))
            sa.event.listen(engine, "close", lambda *_: self._add(self.closed, key))
            return engine

        monkeypatch.setattr(db, "make_engine", counting)

    @staticmethod
    def _add(counts: dict[int, int], key: int) -> None:
        counts[key] += 1

    def all_closed(self) -> bool:
        return all(self.opened[k] == self.closed[k] for k in self.opened) and all(
            e.pool.checkedout() == 0 and e.pool.checkedin() == 0 for e in self.engines)


def test_one_engine_per_url_in_a_scope_disposed_when_it_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counted = Counted(monkeypatch)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    with db.engine_scope() as engines:
        engine = db.run_engine(url)
        assert db.run_engine(url) is engine
        with db.engine_scope() as inner:  # a subflow's scope is its parent's
            assert inner is engines and db.run_engine(url) is engine
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert engine.pool.checkedin() == 1  # still pooled: a nested scope's end disposes nothing
    assert counted.engines == [engine] and counted.opened == {0: 1} and counted.all_closed()
    with pytest.raises(RuntimeError, match="outside engine_scope"):
        db.run_engine(url)  # nobody would dispose it


@pytest.fixture
def world(tmp_path: Path, prefect_api: str, db_url: str, monkeypatch: pytest.MonkeyPatch,
          request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The follow-up tests' world; on PostgreSQL its connections carry an application_name of their own, so the
    server can say which of its backends are this test's."""
    tag = f"congvan-engines-{uuid.uuid4().hex[:8]}"
    if db_url.startswith("postgresql"):
        db_url = make_url(db_url).update_query_dict({"application_name": tag}).render_as_string(hide_password=False)
    for found in spring_world(tmp_path, prefect_api, db_url, monkeypatch, roster=ROSTER):
        yield {**found, "tag": tag}


def _left_open(world: dict[str, Any], request: pytest.FixtureRequest) -> list[str]:
    """What the server or the filesystem says is still connected to the database."""
    url = make_url(world["db_url"])
    if url.get_backend_name() == "postgresql":
        server: Engine = request.getfixturevalue("postgres_server")
        with server.connect() as conn:
            rows = conn.execute(sa.text("SELECT pid, state FROM pg_stat_activity WHERE application_name = :tag"),
                                {"tag": world["tag"]}).all()
        return [f"backend {pid} ({state})" for pid, state in rows]
    database = Path(url.database or "").resolve()
    names = {str(database), f"{database}-wal", f"{database}-shm"}
    open_files = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target in names:
            open_files.append(target)
    return open_files


def test_after_each_flow_run_no_connection_stays_open(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                      request: pytest.FixtureRequest) -> None:
    from flows.dispatch import dispatch
    from flows.report import report

    counted = Counted(monkeypatch)
    sent = run_flow(dispatch, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 10))
    assert sent.count("sent") > 0
    # Its tasks (number, render, plan, send batches, report) shared one engine, disposed at the end of the run.
    assert len(counted.engines) == 1 and counted.opened[0] >= 1
    assert counted.all_closed(), (counted.opened, counted.closed)
    assert _left_open(world, request) == []

    written = run_flow(report, campaign=CAMPAIGN, as_of=dt.date(2024, 4, 25))
    assert written.docx.is_file()
    assert len(counted.engines) == 2 and counted.all_closed()
    assert _left_open(world, request) == []
