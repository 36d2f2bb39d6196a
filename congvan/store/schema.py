"""Which schema a database has, and bringing it to this code's (docs/design.md §3).

The database holds a public authority's outgoing register: it is upgraded in place, never recreated.
Alembic runs the migrations (``congvan/store/migrations``); this module decides when:

- an **empty** database gets the current tables at once (``create_all`` plus the version stamp: the tests
  prove that equals running every migration);
- a database **behind** this code is upgraded on start when it is the embedded SQLite file; on PostgreSQL
  the operator runs ``congvan db upgrade`` (shared servers are upgraded on purpose, not by whichever
  worker starts first), and nothing is written before that;
- a database made **before migrations** (congvan's tables, no ``alembic_version``) is recognised by its
  columns, completed to the baseline and stamped, then upgraded like any other;
- a database from a **newer** congvan (a revision this code does not know) is refused: downgrading
  would lose what the newer code recorded.

The common case (already current) reads one row and imports no Alembic.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from congvan.errors import StoreError
from congvan.i18n import _
from congvan.store.db import SQLITE_BUSY_TIMEOUT_S, advisory_key, masked_url, translated
from congvan.store.tables import metadata

# Every revision in order, oldest first (tests/test_migrations.py checks this against the scripts).
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006")
HEAD = REVISIONS[-1]
BASELINE = REVISIONS[0]
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
TABLES = frozenset(metadata.tables)
UPGRADE_LOCK_WAIT_S = 10.0

# Alembic's own version table, declared as Alembic creates it, so that stamping a new database does not
# need Alembic imported.
_version_table = sa.Table(
    VERSION_TABLE, sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: its Alembic revision (None: no version table) and congvan's tables in it."""

    revision: str | None
    tables: frozenset[str]

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.tables

    @property
    def legacy(self) -> bool:
        """Made by congvan before it had migrations."""
        return self.revision is None and bool(self.tables)

    @property
    def current(self) -> bool:
        return self.revision == HEAD

    @property
    def newer(self) -> bool:
        return self.revision is not None and self.revision not in REVISIONS

    def describe(self) -> str:
        if self.empty:
            return _("empty")
        if self.legacy:
            return _("made before congvan had migrations")
        return (_("at revision {revision} (current)") if self.current else _("at revision {revision}")).format(
            revision=self.revision)


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: the state before, and the revision after (``HEAD``)."""

    before: SchemaState
    after: str

    @property
    def changed(self) -> bool:
        return self.before.revision != self.after


def _not_linear() -> str:
    return _("the database has {count} rows in {table}; congvan's migrations are linear: repair it by hand "
             "({revisions})")


def read_state(conn: Connection) -> SchemaState:
    names = set(sa.inspect(conn).get_table_names())
    revision = None
    if VERSION_TABLE in names:
        rows = conn.execute(sa.select(_version_table.c.version_num)).scalars().all()
        if len(rows) > 1:
            raise StoreError(_not_linear().format(count=len(rows), table=VERSION_TABLE, revisions=", ".join(rows)))
        revision = rows[0] if rows else None
    return SchemaState(revision=revision, tables=frozenset(names & TABLES))


def current_state(engine: Engine) -> SchemaState:
    """The database's state, read without taking SQLite's write lock (every SQLAlchemy transaction on SQLite
    begins IMMEDIATE): a command starting while another process writes reads the revision at once."""
    if engine.dialect.name != "sqlite":
        with translated(engine), engine.connect() as conn:
            return read_state(conn)
    with translated(engine):
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            names = {row[0] for row in cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revisions = ([row[0] for row in cursor.execute(f"SELECT version_num FROM {VERSION_TABLE}")]
                         if VERSION_TABLE in names else [])
            cursor.close()
        except sqlite3.OperationalError as exc:
            raise StoreError(_("cannot read the database {url}: {error}").format(url=masked_url(engine.url),
                                                                                     error=exc)) from exc
        finally:
            raw.close()
    if len(revisions) > 1:
        raise StoreError(_not_linear().format(count=len(revisions), table=VERSION_TABLE,
                                              revisions=", ".join(revisions)))
    return SchemaState(revision=revisions[0] if revisions else None, tables=frozenset(names & TABLES))


def init_db(engine: Engine) -> None:
    """Make ``engine``'s database ready for this code, or say in one line what the operator must do.

    Empty: create the tables. Current: nothing. Behind: upgrade SQLite in place; refuse PostgreSQL with
    the instruction to run ``congvan db upgrade``. Newer than this code: refuse. Safe when run concurrently.
    """
    state = current_state(engine)
    if state.current:
        return
    _refuse_newer(engine, state)
    if state.empty:
        with translated(engine), engine.begin() as conn:
            _lock(conn)
            if read_state(conn).empty:  # nobody created it while we waited for the lock
                metadata.create_all(conn)
                _stamp(conn, HEAD)
                return
        init_db(engine)
        return
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise StoreError(_("the database {url} is {state}; this congvan needs revision {head}: run `congvan db upgrade` "
                       "first (nothing was written)").format(url=masked_url(engine.url), state=state.describe(),
                                                             head=HEAD))


def upgrade(engine: Engine, *, lock_wait: float = UPGRADE_LOCK_WAIT_S) -> Upgrade:
    """Bring the database to ``HEAD`` in one transaction: all of it, or nothing on any error."""
    with translated(engine), _migration_connection(engine, lock_wait) as conn, conn.begin():
        _lock(conn)
        before = read_state(conn)
        _refuse_newer(engine, before)
        if before.current:
            return Upgrade(before, HEAD)
        if before.empty:
            metadata.create_all(conn)
            _stamp(conn, HEAD)
            return Upgrade(before, HEAD)
        if before.legacy:
            adopt_legacy(conn, before)
        _run_migrations(conn)
        _check_foreign_keys(conn)
        return Upgrade(before, HEAD)


def adopt_legacy(conn: Connection, state: SchemaState) -> None:
    """Stamp a database made before migrations with the baseline, after completing it to the baseline.

    Two shapes were ever made by congvan: today's baseline, and an older one without the roster tables
    and with the register columns NOT NULL (a reminder mail, recorded without a number, failed on it).
    Anything else is not congvan's, and is refused before a change.
    """
    from congvan.store import baseline  # here: only a database made before migrations needs the old tables

    inspector = sa.inspect(conn)
    columns = {name: {c["name"]: c for c in inspector.get_columns(name)} for name in state.tables}
    for table in baseline.metadata.sorted_tables:
        have = columns.get(table.name)
        if have is None:
            continue
        missing = [c.name for c in table.columns if c.name not in have]
        if missing:
            raise StoreError(_("the table {table} has no column(s) {columns}: this is not a database congvan made, "
                               "and it was not changed").format(table=table.name, columns=", ".join(missing)))
    if "documents" not in columns or "register_counters" not in columns:
        raise StoreError(_("the database has some of congvan's tables but not the register: it was not changed"))
    not_null = [name for name in ("register", "year", "number", "symbol")
                if not columns["documents"][name]["nullable"]]
    if not_null:
        from alembic.operations import Operations
        from alembic.runtime.migration import MigrationContext

        documents = baseline.metadata.tables["documents"]
        operations = Operations(MigrationContext.configure(conn))
        if conn.dialect.name == "sqlite":  # rebuilt from the baseline's definition: reflection loses constraints
            with operations.batch_alter_table("documents", copy_from=documents, recreate="always"):
                pass
            for index in documents.indexes:  # copy_from carries the constraints, not the indexes
                index.create(conn, checkfirst=True)
        else:
            for name in not_null:
                operations.alter_column("documents", name, existing_type=documents.c[name].type, nullable=True)
    for table in baseline.metadata.sorted_tables:
        if table.name not in columns:
            table.create(conn)
    _stamp(conn, BASELINE)


def _run_migrations(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _stamp(conn: Connection, revision: str) -> None:
    _version_table.create(conn, checkfirst=True)
    conn.execute(_version_table.delete())
    conn.execute(_version_table.insert().values(version_num=revision))


def _refuse_newer(engine: Engine, state: SchemaState) -> None:
    if state.newer:
        raise StoreError(_("the database {url} is at revision {revision}, made by a newer congvan than this one "
                           "(which knows up to {head}); use that version, congvan never downgrades a database that "
                           "holds the outgoing register (nothing was changed)").format(
            url=masked_url(engine.url), revision=state.revision, head=HEAD))


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # serialises changes to this schema's tables
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(advisory_key(conn, "schema"))))


@contextmanager
def _migration_connection(engine: Engine, lock_wait: float) -> Iterator[Connection]:
    """A connection fit for migrations. On SQLite: foreign keys off while tables are rebuilt in batch mode
    (checked before commit instead), and a bounded wait for a file another process holds."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            yield conn
            return
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, where SQLite honours it
        raw.execute(f"PRAGMA busy_timeout={int(lock_wait * 1000)}")
        try:
            yield conn
        finally:  # the connection goes back to the pool: as every other connection is
            raw.execute("PRAGMA foreign_keys=ON")
            raw.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")


def _check_foreign_keys(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise StoreError(_("the upgrade would break {count} reference(s) between tables (first: {first}); "
                               "nothing was changed").format(count=len(broken), first=tuple(broken[0])))
