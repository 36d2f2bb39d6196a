"""Migrations: the schema the migrations build is the models' schema, on SQLite and PostgreSQL; a database
made by the code before migrations (tests/data/legacy/) is upgraded in place with every number, delivery
and response kept, and a rerun of dispatch and escalate sends nothing twice; bad cases are one line."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from support import Project, error_lines

from congvan import register
from congvan.errors import StoreError
from congvan.mailcatcher import MailCatcher
from congvan.store import baseline, make_engine
from congvan.store.models import Base
from congvan.store.schema import (
    BASELINE,
    HEAD,
    MIGRATIONS_DIR,
    REVISIONS,
    UPGRADE_LOCK_WAIT_S,
    _migration_connection,
    _run_migrations,
    adopt_legacy,
    current_state,
    init_db,
    read_state,
    upgrade,
)

LEGACY_DUMP = Path(__file__).with_name("data") / "legacy" / "main-059ee3a.sqlite.sql"
CAMPAIGN = "par-index-2022"
# What the legacy demo left (tests/data/legacy/README.md): 9 numbered documents, 25 reminder mails.
LEGACY_COUNTS = {"register_counters": 1, "documents": 34, "deliveries": 85, "imports": 7, "staff": 540,
                 "responses": 530}
# Revision 0005: what `status` and the escalation read per official, from the index alone.
STATUS_INDEXES = {"ix_staff_campaign_unit_staff_id": ("staff", ["campaign", "unit", "staff_id"]),
                  "ix_responses_campaign_staff_id_completed_at": ("responses",
                                                                  ["campaign", "staff_id", "completed_at"])}


def _differences(conn: sa.Connection, metadata: sa.MetaData) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
    return list(compare_metadata(context, metadata))


def _legacy_rows() -> dict[str, list[dict[str, Any]]]:
    """Every row of the legacy dump, typed through the baseline tables (naive UTC datetimes made aware)."""
    source = sa.create_engine("sqlite://", poolclass=sa.StaticPool)
    with source.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.executescript(LEGACY_DUMP.read_text(encoding="utf-8"))
        rows: dict[str, list[dict[str, Any]]] = {}
        for table in baseline.metadata.sorted_tables:
            found = []
            for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings():
                found.append({k: v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo is None
                              else v for k, v in row.items()})
            rows[table.name] = found
    source.dispose()
    return rows


def _load_legacy(db_url: str) -> None:
    """The database as the code before migrations left it: on SQLite the dump itself, on PostgreSQL the
    same tables (main's models are the baseline: test_the_baseline_is_the_schema_main_made) and rows."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as conn:
            conn.executescript(LEGACY_DUMP.read_text(encoding="utf-8"))
        return
    engine = make_engine(db_url)
    rows = _legacy_rows()
    with engine.begin() as conn:
        baseline.metadata.create_all(conn)
        for table in baseline.metadata.sorted_tables:
            if rows[table.name]:
                conn.execute(table.insert(), rows[table.name])
            if "id" in table.c:  # as if the rows had been inserted one by one
                conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                     f"(SELECT max(id) FROM {table.name}))"))
    engine.dispose()


def _snapshot(engine: Engine, *, without: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every baseline column of every row, comparable across the upgrade (datetimes in UTC)."""
    result = {}
    with engine.connect() as conn:
        for table in baseline.metadata.sorted_tables:
            columns = [sa.column(c.name) for c in table.columns if c.name not in without]
            query = sa.select(*columns).select_from(sa.table(table.name)).order_by(
                *(sa.column(c.name) for c in table.primary_key.columns))
            result[table.name] = [tuple(_utc(v) for v in row) for row in conn.execute(query)]
    return result


def _upgrade_to(engine: Engine, revision: str) -> None:
    """The legacy database brought to ``revision`` only: as a congvan of that revision left it."""
    with _migration_connection(engine, UPGRADE_LOCK_WAIT_S) as conn, conn.begin():
        state = read_state(conn)
        if state.legacy:
            adopt_legacy(conn, state)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        alembic_command.upgrade(config, revision)


def _status_indexes(conn: sa.Connection) -> dict[str, tuple[str, list[str]]]:
    inspector = sa.inspect(conn)
    return {i["name"]: (table, list(i["column_names"])) for table in ("staff", "responses")
            for i in inspector.get_indexes(table) if i["name"] in STATUS_INDEXES}


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)
    return value


# --- the migrations and the models agree ------------------------------------------------------------


def test_the_revisions_in_code_are_the_scripts() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [HEAD]
    assert [r.revision for r in reversed(list(script.walk_revisions()))] == list(REVISIONS)


def test_migrations_from_empty_build_the_models_schema(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        _run_migrations(conn)
        assert _differences(conn, Base.metadata) == []
    assert current_state(engine).revision == HEAD
    engine.dispose()


def test_a_new_database_is_created_current_and_equals_the_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    state = current_state(engine)
    assert state.current and state.tables == frozenset(Base.metadata.tables)
    with engine.connect() as conn:
        assert _differences(conn, Base.metadata) == []
    engine.dispose()


def test_the_baseline_is_the_schema_main_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    _load_legacy(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert _differences(conn, baseline.metadata) == []
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in LEGACY_COUNTS}
    assert counts == LEGACY_COUNTS
    assert current_state(engine).legacy
    engine.dispose()


# --- a database made before migrations, upgraded ------------------------------------------------------


@pytest.fixture
def legacy(db_url: str) -> Iterator[Engine]:
    _load_legacy(db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_upgrade_keeps_every_number_delivery_and_response(legacy: Engine) -> None:
    before = _snapshot(legacy)
    assert {t: len(rows) for t, rows in before.items()} == LEGACY_COUNTS
    done = upgrade(legacy)
    assert done.before.legacy and done.after == HEAD and done.changed
    assert current_state(legacy).current
    assert _snapshot(legacy) == before
    with legacy.connect() as conn:
        assert _differences(conn, Base.metadata) == []
    numbers = [(a.number, a.so_ky_hieu) for a in (register.lookup(legacy, f"{CAMPAIGN}/dispatch"),) if a]
    assert numbers == [(1, "01/UBND-KSTTHC")]
    assert not upgrade(legacy).changed  # a second upgrade is a no-op


def test_0005_indexes_a_database_at_0004_and_keeps_its_rows(legacy: Engine) -> None:
    """Revision 0005 alone (0006 then replaces its index on staff)."""
    _upgrade_to(legacy, "0004")
    assert current_state(legacy).revision == "0004"
    with legacy.connect() as conn:
        assert _status_indexes(conn) == {}
    before = _snapshot(legacy)
    assert {t: len(rows) for t, rows in before.items()} == LEGACY_COUNTS  # staff, responses, documents, ...
    _upgrade_to(legacy, "0005")
    assert current_state(legacy).revision == "0005"
    assert _snapshot(legacy) == before
    with legacy.connect() as conn:
        assert _status_indexes(conn) == STATUS_INDEXES
        if conn.dialect.name == "sqlite":  # and the query planner takes them
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT unit, count(*) FROM staff WHERE campaign = ? AND staff_id IN "
                "(SELECT staff_id FROM responses WHERE campaign = ? AND completed_at < ?) GROUP BY unit",
                (CAMPAIGN, CAMPAIGN, "2023-03-01")).fetchall()
            details = " | ".join(str(row[-1]) for row in plan)
            assert "COVERING INDEX ix_staff_campaign_unit_staff_id" in details, details
            assert "COVERING INDEX ix_responses_campaign_staff_id_completed_at" in details, details


def test_0006_tells_each_official_of_the_roster_when_they_answered(legacy: Engine) -> None:
    """A database at 0005 with the legacy roster and responses: every official gets the completion time of their
    response (and those who never answered none), the count per unit reads one index, and nothing else changes."""
    _upgrade_to(legacy, "0005")
    before = _snapshot(legacy)
    with legacy.connect() as conn:
        answered = {sid: _utc(at) for sid, at in conn.exec_driver_sql(
            "SELECT staff_id, completed_at FROM responses WHERE campaign = ?"
            if conn.dialect.name == "sqlite" else "SELECT staff_id, completed_at FROM responses WHERE campaign = %s",
            (CAMPAIGN,))}
    done = upgrade(legacy)
    assert done.before.revision == "0005" and done.after == HEAD
    assert _snapshot(legacy) == before  # every baseline column of every row, numbers and deliveries too
    with legacy.connect() as conn:
        rows = {sid: _utc(at) for sid, at in conn.execute(sa.text(
            "SELECT staff_id, answered_at FROM staff WHERE campaign = :c"), {"c": CAMPAIGN})}
        assert len(rows) == LEGACY_COUNTS["staff"]
        assert {sid: at for sid, at in rows.items() if at is not None} == {
            sid: at for sid, at in answered.items() if sid in rows}
        assert sum(at is None for at in rows.values()) == len(rows.keys() - answered.keys()) > 0
        inspector = sa.inspect(conn)
        indexes = {i["name"]: i["column_names"] for t in ("staff", "responses") for i in inspector.get_indexes(t)}
        assert indexes["ix_staff_campaign_unit_answered_at"] == ["campaign", "unit", "answered_at"]
        assert not {"ix_staff_campaign_unit_staff_id", "ix_staff_unit", "ix_responses_campaign"} & indexes.keys()
        assert _differences(conn, Base.metadata) == []
        if conn.dialect.name == "sqlite":
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT unit, count(*), count(CASE WHEN answered_at < ? THEN 1 END) FROM staff "
                "WHERE campaign = ? GROUP BY unit", ("2023-03-01", CAMPAIGN)).fetchall()
            details = " | ".join(str(row[-1]) for row in plan)
            assert "COVERING INDEX ix_staff_campaign_unit_answered_at" in details, details


def test_after_the_upgrade_a_rerun_sends_nothing_twice(legacy: Engine, db_url: str, tmp_path: Path,
                                                       prefect_api: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.dispatch import dispatch
    from flows.escalate import escalate

    # The sample as shipped, approval on (revision 0004): what was numbered before approval existed is not
    # held back for a signer, and nothing already sent is proposed again.
    project = Project(tmp_path, approval=True)
    env = {"CONGVAN_CONFIG_DIR": str(project.config), "CONGVAN_TEMPLATES_DIR": str(project.root / "templates"),
           "CONGVAN_OUTPUT_DIR": str(project.out), "CONGVAN_DATABASE_URL": db_url,
           "CONGVAN_SMTP_BACKOFF": "0", "CONGVAN_SMTP_ATTEMPTS": "2"}
    # The files the legacy run wrote are gone (another machine): a rerun renders them again, byte for byte
    # the same (sha256 compared), under this output folder.
    files = ("docx_path", "pdf_path")
    before = _snapshot(legacy, without=files)
    with MailCatcher(tmp_path / "mailbox") as catcher:
        for key, value in {**env, "CONGVAN_SMTP_PORT": str(catcher.port)}.items():
            monkeypatch.setenv(key, value)
        if legacy.dialect.name == "postgresql":  # the operator upgrades a shared server on purpose
            assert project.run("db", "upgrade", **env).returncode == 0
        sent = dispatch(campaign=CAMPAIGN, as_of=dt.date(2023, 2, 10), return_state=True)
        assert sent.is_completed(), sent.message
        assert {d.status for d in sent.result().deliveries} == {"sent"}
        assert "awaiting_approval" not in sent.result().to_json()
        for day in (dt.date(2023, 2, 21), dt.date(2023, 2, 27), dt.date(2023, 3, 3), dt.date(2023, 3, 6)):
            run = escalate(campaign=CAMPAIGN, as_of=day, return_state=True)
            assert run.is_completed(), run.message
            assert run.result().actions == (), day
        assert catcher.stored() == []
    with legacy.connect() as conn:  # nothing was submitted to a signer
        assert conn.execute(sa.text("SELECT count(*) FROM approvals")).scalar_one() == 0
    assert current_state(legacy).current
    assert _snapshot(legacy, without=files) == before


def test_an_older_shape_without_the_roster_tables_is_adopted(db_url: str) -> None:
    """Before the follow-up, the register columns were NOT NULL and there was no roster: a reminder mail
    (recorded without a number) failed on such a database."""
    engine = make_engine(db_url)
    old = sa.MetaData(naming_convention=baseline.metadata.naming_convention)
    for table in baseline.metadata.sorted_tables:
        if table.name in ("register_counters", "documents", "deliveries"):
            copy = table.to_metadata(old)
            if table.name == "documents":
                for name in ("register", "year", "number", "symbol"):
                    copy.c[name].nullable = False
    with engine.begin() as conn:  # what the code of that time recorded for a dispatch
        old.create_all(conn)
        conn.execute(old.tables["register_counters"].insert().values(register="ubnd-daklak", year=2023,
                                                                     last_number=1))
        conn.execute(old.tables["documents"].insert().values(
            key="old/dispatch", campaign="old", kind="dispatch", register="ubnd-daklak", year=2023, number=1,
            symbol="UBND-KSTTHC", issued_on=dt.date(2023, 2, 10)))
    init_db(engine) if engine.dialect.name == "sqlite" else upgrade(engine)
    assert current_state(engine).current
    with engine.connect() as conn:
        assert _differences(conn, Base.metadata) == []
    assert register.issued(engine, "old/dispatch").so_ky_hieu == "01/UBND-KSTTHC"
    mail = register.record_unnumbered(engine, key="old/nhac-nho/KPAC", campaign="old", kind="mail", unit="KPAC",
                                      level=1, issued_on=dt.date(2023, 2, 21))
    assert mail.created
    engine.dispose()


def test_tables_that_are_not_congvans_are_refused_unchanged(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE documents (id INTEGER PRIMARY KEY, title VARCHAR(20))"))
    with pytest.raises(StoreError, match=r"has no column\(s\) key, campaign.*not a database congvan made"):
        init_db(engine) if engine.dialect.name == "sqlite" else upgrade(engine)
    state = current_state(engine)
    assert state.revision is None and state.tables == {"documents"}
    engine.dispose()


# --- where the operator must act ---------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_behind_is_one_line_until_db_upgrade(tmp_path: Path, postgres_url: str) -> None:
    project = Project(tmp_path)
    url = postgres_url
    _load_legacy(url)
    engine = make_engine(url)
    before = _snapshot(engine)
    with pytest.raises(StoreError, match=r"made before congvan had migrations; this congvan needs revision "
                                         rf"{HEAD}: run `congvan db upgrade` first \(nothing was written\)"):
        init_db(engine)
    status = project.run("status", CAMPAIGN, "--as-of", "2023-03-06", CONGVAN_DATABASE_URL=url)
    assert status.returncode == 2
    assert error_lines(status)[0].endswith("run `congvan db upgrade` first (nothing was written)")
    assert current_state(engine).legacy and _snapshot(engine) == before
    shown = project.run("db", "current", CONGVAN_DATABASE_URL=url)
    assert shown.returncode == 0 and "made before congvan had migrations" in shown.stdout
    assert "postgres:postgres" not in shown.stdout  # the password is masked
    done = project.run("db", "upgrade", CONGVAN_DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert f"→ revision {HEAD}" in done.stdout
    assert current_state(engine).current and _snapshot(engine) == before
    assert project.run("status", CAMPAIGN, "--as-of", "2023-03-06", CONGVAN_DATABASE_URL=url).returncode == 0
    engine.dispose()


@pytest.mark.postgres
def test_postgres_at_an_older_revision_is_refused_too(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    with engine.begin() as conn:
        baseline.metadata.create_all(conn)
        conn.execute(sa.text(f"CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY); "
                             f"INSERT INTO alembic_version VALUES ('{BASELINE}')"))
    with pytest.raises(StoreError, match=f"is at revision {BASELINE}; this congvan needs revision {HEAD}"):
        init_db(engine)
    assert current_state(engine).revision == BASELINE
    assert upgrade(engine).before.revision == BASELINE
    assert current_state(engine).current
    engine.dispose()


def test_sqlite_behind_upgrades_itself_on_start(tmp_path: Path) -> None:
    project = Project(tmp_path)
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    _load_legacy(url)
    result = project.run("status", CAMPAIGN, "--as-of", "2023-03-06", CONGVAN_DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert "3 unit(s) behind" in result.stdout or "530/540" in result.stdout, result.stdout
    engine = make_engine(url)
    assert current_state(engine).current
    engine.dispose()


def test_a_database_from_a_newer_congvan_is_refused(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    for attempt in (init_db, upgrade):
        with pytest.raises(StoreError, match="is at revision 0099, made by a newer congvan"):
            attempt(engine)
    project = Project(tmp_path)
    for command in (("db", "upgrade"), ("db", "current"), ("register", "export")):
        result = project.run(*command, CONGVAN_DATABASE_URL=db_url)
        assert result.returncode == 2, (command, result.stdout)
        assert "made by a newer congvan" in "\n".join(error_lines(result))
    assert current_state(engine).revision == "0099"
    engine.dispose()


def test_a_downgrade_is_refused(tmp_path: Path) -> None:
    project = Project(tmp_path)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = project.run("db", "downgrade", "0001", CONGVAN_DATABASE_URL=url)
    assert result.returncode == 2
    assert error_lines(result) == ["Error: congvan never downgrades a database that holds the outgoing register; "
                                   "to go back, restore the backup taken before the upgrade (nothing was changed)"]
    assert not (tmp_path / "db.sqlite").exists()


def test_a_locked_sqlite_file_during_upgrade_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    _load_legacy(url)
    holder = sqlite3.connect(tmp_path / "legacy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    engine = make_engine(url)
    try:
        with pytest.raises(StoreError, match="database is locked"):
            upgrade(engine, lock_wait=0.3)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert current_state(engine).legacy
    assert upgrade(engine).after == HEAD
    engine.dispose()


def test_the_first_start_of_several_processes_at_once(db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(4)]
    errors: list[BaseException] = []

    def start(engine: Engine) -> None:
        try:
            init_db(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engines[0].connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    for engine in engines:
        engine.dispose()


def test_a_new_sqlite_file_opened_by_several_processes_at_once_is_no_error(tmp_path: Path) -> None:
    """Each connection puts the file in WAL mode; on a new file two of them doing it at once got "database is
    locked" at once, not after the busy timeout (a raw sqlite3 error, about one start in fifteen). Many new files,
    so that the race is run often enough to show."""
    errors: list[BaseException] = []

    def connect(engine: Engine) -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except BaseException as exc:
            errors.append(exc)

    for n in range(40):
        engines = [make_engine(f"sqlite:///{tmp_path / f'new-{n}.db'}") for _ in range(4)]
        threads = [threading.Thread(target=connect, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for engine in engines:
            engine.dispose()
    assert errors == []
    assert sqlite3.connect(tmp_path / "new-0.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_current_sqlite_database_is_checked_while_another_process_writes(tmp_path: Path) -> None:
    """Every command starts with init_db: on a current database it only reads, so it must not queue behind
    another process's write transaction (it used to wait the busy timeout, then fail "database is locked")."""
    url = f"sqlite:///{tmp_path / 'congvan.db'}"
    engine = make_engine(url)
    init_db(engine)
    holder = sqlite3.connect(tmp_path / "congvan.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a dispatch in another process, between its BEGIN and COMMIT
    try:
        other = make_engine(url)
        init_db(other)
        assert current_state(other).current
        other.dispose()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    engine.dispose()
