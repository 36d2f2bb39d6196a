"""Engines and transactions: the only module where database-driver errors are translated.

SQLite (the default, one file) and PostgreSQL (psycopg 3) are supported. On SQLite every
transaction starts with ``BEGIN IMMEDIATE``, so writers queue on the busy timeout instead of
failing half-way with "database is locked"; on PostgreSQL, callers lock rows with
``SELECT ... FOR UPDATE`` (rendered as nothing on SQLite, where it is not needed).
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from congvan.errors import StoreError
from congvan.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_S = 30.0
LOCK_POLL_S = 0.2
_memory_lock = threading.Lock()
POSTGRES_CONNECT_TIMEOUT_S = 10
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def masked_url(url: str | URL) -> str:
    """The URL with any password replaced by ``***``, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable database URL>"


def make_engine(url: str) -> Engine:
    """An engine for a SQLite or PostgreSQL URL. Cheap and uncached: the caller holds it, and disposes it (a flow
    or a command asks ``run_engine`` instead, inside ``engine_scope``).

    A bare ``postgresql://`` (or ``postgres://``) URL uses psycopg 3. For a SQLite file, the
    parent directory is created if missing.
    """
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise StoreError(_("the database URL is not valid (expected e.g. sqlite:///outputs/congvan.db "
                           "or postgresql://user@host/dbname)")) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StoreError(_("unsupported database {url}: use SQLite or PostgreSQL").format(url=masked_url(parsed)))
    try:
        if backend == "sqlite":
            return _sqlite_engine(parsed)
        return sa.create_engine(parsed, pool_pre_ping=True,
                                connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S})
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise StoreError(_("cannot use the database {url}: {error}").format(url=masked_url(parsed), error=exc)) \
            from exc


class Engines:
    """The engines of one run, one per database URL, made on first use and disposed together when the run ends.

    An engine is a connection pool: a run's tasks share one instead of each making its own, and disposing it
    closes its connections (a SQLite file's handles, a PostgreSQL backend) when the run is over, not when the
    process exits, which for a worker or ``congvan serve`` is never.
    """

    def __init__(self) -> None:
        self._by_url: dict[str, Engine] = {}
        self._lock = threading.Lock()  # a task runner's threads may ask at once

    def get(self, url: str) -> Engine:
        with self._lock:
            engine = self._by_url.get(url)
            if engine is None:
                engine = self._by_url[url] = make_engine(url)
            return engine

    def dispose(self) -> None:
        with self._lock:
            engines, self._by_url = list(self._by_url.values()), {}
        for engine in engines:
            engine.dispose()


# The engines of the run in this context (a flow run and the tasks it calls; a CLI command and the flow it runs).
_run_engines: ContextVar[Engines | None] = ContextVar("congvan_engines", default=None)


@contextmanager
def engine_scope() -> Iterator[Engines]:
    """Own the engines of what runs inside: ``run_engine(url)`` there returns one engine per URL, disposed when the
    block ends. Nested, it is the outer block's (a subflow shares its parent's engines, and a flow the command's
    that runs it): the outermost owner disposes."""
    outer = _run_engines.get()
    if outer is not None:
        yield outer
        return
    engines = Engines()
    token = _run_engines.set(engines)
    try:
        yield engines
    finally:
        _run_engines.reset(token)
        engines.dispose()


def run_engine(url: str) -> Engine:
    """The engine for ``url`` of the enclosing ``engine_scope()``; outside one it is a bug (an engine nobody would
    dispose), said at once rather than leaking connections."""
    engines = _run_engines.get()
    if engines is None:
        raise RuntimeError("run_engine() outside engine_scope(): the engine would never be disposed")
    return engines.get(url)


def init_db(engine: Engine) -> None:
    """Make the database ready for this code: create an empty one, upgrade or refuse one that is behind
    (``congvan.store.schema.init_db``, which builds on this module: hence the import here)."""
    from congvan.store.schema import init_db as ready

    ready(engine)


def insert_ignoring_duplicates(session: Session, table: type[Any]) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the session's dialect: two runs recording the same row at once
    (a manual and a scheduled run, two workers) must not fail on a unique constraint."""
    # The dialect's module here, not at the top: importing SQLAlchemy's PostgreSQL dialect costs a SQLite
    # `status` 50 ms (the engine of a postgresql:// URL imports it anyway).
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()
    raise StoreError(_("congvan needs SQLite or PostgreSQL, not {dialect}").format(dialect=dialect))


def insert_many(session: Session, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (each with the same keys: every column but the key) in one executemany on the driver's
    cursor. SQLAlchemy's own executemany builds and converts every parameter of every row in Python; here only
    the columns that need it are converted (SQLite's datetimes): the roster import of 100,000 officials went
    from 5.96 to 5.39 s (bench/bench_import.py)."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=keys)
    if set(compiled.params) != set(keys):  # a column with a Python-side default would be left out
        raise ValueError(f"insert_many into {table.name}: the rows give {sorted(keys)}, the INSERT takes "
                         f"{sorted(compiled.params)}")
    order = list(compiled.positiontup or ()) if compiled.positional else keys
    # Only some columns need converting (SQLite's datetimes become text); the others pass as they are.
    converters = [(i, convert) for i, k in enumerate(order)
                  if (convert := table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    params: list[Any] = []
    for row in rows:
        values = [row[k] for k in order]
        for i, convert in converters:
            if values[i] is not None:
                values[i] = convert(values[i])
        params.append(tuple(values) if compiled.positional else dict(zip(order, values, strict=True)))
    conn.exec_driver_sql(str(compiled), params)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error.

    An unreachable database or a refused operation becomes ``StoreError``; constraint
    violations (``sqlalchemy.exc.IntegrityError``) pass through for the caller to resolve.
    """
    from sqlalchemy.orm import Session  # here: what only reads uses `core_transaction`, and imports no ORM

    with translated(engine), Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


@contextmanager
def core_transaction(engine: Engine) -> Iterator[Connection]:
    """One unit of work on a Core connection, begun, committed and translated as ``transaction`` does, for code that
    needs no ORM objects: what ``status`` reads (it then imports no ORM), a message marked sent (the sending path)."""
    with translated(engine), engine.begin() as conn:
        yield conn


@contextmanager
def translated(engine: Engine) -> Iterator[None]:
    """Driver errors of ``engine`` as ``StoreError``: for callers that use a Core connection directly."""
    try:
        yield
    except sa_exc.OperationalError as exc:
        raise _store_error(engine.url, exc) from exc


def _store_error(url: URL, exc: sa_exc.OperationalError) -> StoreError:
    lines = str(exc.orig).strip().splitlines()
    reason = lines[0].strip() if lines else type(exc.orig).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    if exc.statement is None:  # raised while connecting, before any statement ran
        return StoreError(_("cannot connect to the database {url}: {reason}").format(url=masked_url(url),
                                                                                     reason=reason))
    return StoreError(_("the database {url} refused the operation: {reason}").format(url=masked_url(url),
                                                                                     reason=reason))


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(_("cannot create the directory for the database {url}: {error}").format(
                url=masked_url(url), error=exc.strerror or exc)) from exc
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
    # The documented pysqlite recipe: stop the driver from issuing BEGIN itself (it would
    # issue a deferred one, and only before DML); _sqlite_on_begin issues ours instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _wal(cursor: sqlite3.Cursor) -> None:
    """Put the file in WAL mode, which it keeps. Switching takes the file's exclusive lock, and SQLite refuses it at
    once, without waiting, while another connection holds the file: two processes opening a new database at once
    (each holding a shared lock, both wanting it), or a writer in a file not yet in WAL mode (a legacy database).
    That is no error here: the mode belongs to the file, this connection works in whichever mode the file is in,
    and the next connection switches it."""
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise


def _sqlite_on_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def campaign_lock(engine: Engine, campaign: str, *, wait: float = 600.0) -> Iterator[None]:
    """Hold the campaign's lock: one run at a time plans and sends for a campaign, whichever machine or
    process it runs in (a scheduled and a manual run, two workers). The lock dies with its holder: a
    PostgreSQL session advisory lock, or an flock on a file beside the SQLite database. ``StoreError``
    when another run still holds it after ``wait`` seconds."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, campaign, wait):
            yield
    else:
        with _file_lock(engine, campaign, wait):
            yield


def advisory_key(conn: Connection, name: str) -> int:
    """The key of PostgreSQL advisory lock ``name`` for the connection's schema. Advisory locks belong to the
    database, congvan's tables to a schema: two installations sharing a database in schemas of their own (or the
    tests, a schema each) must not hold each other's campaigns."""
    schema = conn.execute(sa.select(sa.func.current_schema())).scalar_one()
    digest = hashlib.blake2b(f"congvan:{schema}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def _pg_lock(engine: Engine, campaign: str, wait: float) -> Iterator[None]:
    with translated(engine), engine.connect() as conn:
        key = advisory_key(conn, f"campaign:{campaign}")
        deadline = time.monotonic() + wait
        # A session lock outlives the transaction: commit at once so the connection is not left idle in one.
        while not conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one():
            conn.commit()
            if time.monotonic() > deadline:
                raise StoreError(_("another run of campaign {campaign!r} is still in progress (waited {wait:.0f} s); "
                                   "try again later").format(campaign=campaign, wait=wait))
            time.sleep(LOCK_POLL_S)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            conn.commit()


@contextmanager
def _file_lock(engine: Engine, campaign: str, wait: float) -> Iterator[None]:
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        with _memory_lock:  # one process owns an in-memory database
            yield
        return
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in campaign)
    path = Path(database).with_name(f".{Path(database).name}.{safe}.lock")
    with open(path, "a+b") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(_("another run of campaign {campaign!r} is still in progress (waited {wait:.0f} "
                                       "s; lock {path}); try again later").format(campaign=campaign, wait=wait,
                                                                                  path=path)) from None
                time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
