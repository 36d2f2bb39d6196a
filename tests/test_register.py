"""The outgoing register, on real SQLite and PostgreSQL databases (see conftest.py)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import queue
import random
import sqlite3
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from congvan.errors import CongVanError, NotIssuedError, StoreError
from congvan.register import Allocation, allocate, format_number, issued, lookup
from congvan.store import init_db, make_engine, transaction
from congvan.store.models import Document, RegisterCounter
from congvan.store.schema import current_state

REGISTER = "UBND-DI"
SYMBOL = "UBND-KSTTHC"
DAY = date(2025, 3, 10)


def _allocate(engine: Engine, key: str, *, register: str = REGISTER, symbol: str = SYMBOL,
              issued_on: date = DAY, kind: str = "dispatch") -> Allocation:
    return allocate(engine, key=key, register=register, symbol=symbol, issued_on=issued_on,
                    campaign="par-index-2022", kind=kind)


def _count(engine: Engine, model: type[Document] | type[RegisterCounter]) -> int:
    with transaction(engine) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


# -- numbering -------------------------------------------------------------------------------------------


def test_first_numbers_are_1_2_3_and_formatted(engine: Engine) -> None:
    allocations = [_allocate(engine, f"par-index-2022/dispatch/{unit}") for unit in ("A", "B", "C")]

    assert [a.number for a in allocations] == [1, 2, 3]
    assert all(a.created for a in allocations)
    assert allocations[0].so_ky_hieu == "01/UBND-KSTTHC"
    assert allocations[0].number_text == "01"
    assert allocations[2].year == 2025
    assert allocations[2].issued_on == DAY
    assert len({a.document_id for a in allocations}) == 3


@pytest.mark.parametrize(("n", "text"), [(1, "01"), (9, "09"), (10, "10"), (100, "100"), (123, "123")])
def test_format_number_pads_below_ten(n: int, text: str) -> None:
    assert format_number(n) == text


@pytest.mark.parametrize("n", [0, -1])
def test_format_number_rejects_below_one(n: int) -> None:
    with pytest.raises(ValueError, match="start at 1"):
        format_number(n)


def test_so_ky_hieu_of_a_three_digit_number() -> None:
    allocation = Allocation(number=123, year=2025, register=REGISTER, symbol="UBND-VP", issued_on=DAY,
                            key="k", document_id=1, created=True)
    assert allocation.so_ky_hieu == "123/UBND-VP"


def test_same_key_returns_same_number_even_with_other_arguments(engine: Engine) -> None:
    first = _allocate(engine, "par-index-2022/dispatch/ALL")
    _allocate(engine, "par-index-2022/reminder/U1")

    again = _allocate(engine, "par-index-2022/dispatch/ALL", symbol="KHAC", issued_on=date(2025, 6, 1),
                      kind="report")

    assert again == dataclasses.replace(first, created=False)
    assert _count(engine, Document) == 2
    assert _allocate(engine, "par-index-2022/reminder/U2").number == 3  # no gap left behind


def test_same_key_in_another_register_is_refused(engine: Engine) -> None:
    _allocate(engine, "par-index-2022/dispatch/ALL", register="UBND-DI")

    with pytest.raises(StoreError, match=r"already numbered 01/UBND-KSTTHC in register 'UBND-DI'"):
        _allocate(engine, "par-index-2022/dispatch/ALL", register="VP-DI")

    # The refused call left the other register untouched.
    assert _allocate(engine, "par-index-2022/report/ALL", register="VP-DI").number == 1


def test_registers_have_separate_sequences(engine: Engine) -> None:
    numbers = [(register, _allocate(engine, f"k{i}", register=register).number)
               for i, register in enumerate(["UBND-DI", "VP-DI", "UBND-DI", "VP-DI", "VP-DI", "UBND-DI"])]

    assert numbers == [("UBND-DI", 1), ("VP-DI", 1), ("UBND-DI", 2),
                       ("VP-DI", 2), ("VP-DI", 3), ("UBND-DI", 3)]


def test_numbering_restarts_on_1_january(engine: Engine) -> None:
    old = [_allocate(engine, f"old/{i}", issued_on=date(2023, 12, 31)) for i in range(3)]
    new = _allocate(engine, "new/0", issued_on=date(2024, 1, 1))
    late = _allocate(engine, "old/late", issued_on=date(2023, 12, 31))
    newer = _allocate(engine, "new/1", issued_on=date(2024, 1, 2))

    assert [a.number for a in old] == [1, 2, 3]
    assert (new.number, new.year, new.so_ky_hieu) == (1, 2024, "01/UBND-KSTTHC")
    assert (late.number, late.year) == (4, 2023)
    assert (newer.number, newer.year) == (2, 2024)


# -- lookup and issued -----------------------------------------------------------------------------------


def test_lookup_and_issued(engine: Engine) -> None:
    assert lookup(engine, "par-index-2022/dispatch/ALL") is None
    with pytest.raises(NotIssuedError, match="has not been issued yet: no number in the register") as info:
        issued(engine, "par-index-2022/dispatch/ALL")
    assert isinstance(info.value, StoreError)
    assert "par-index-2022/dispatch/ALL" in str(info.value)

    allocation = _allocate(engine, "par-index-2022/dispatch/ALL")

    assert lookup(engine, "par-index-2022/dispatch/ALL") == dataclasses.replace(allocation, created=False)
    assert issued(engine, "par-index-2022/dispatch/ALL").so_ky_hieu == "01/UBND-KSTTHC"
    assert lookup(engine, "par-index-2022/dispatch/other") is None


# -- concurrency -----------------------------------------------------------------------------------------

PROCESSES = 4
KEYS_PER_PROCESS = 15
SHARED_KEYS = [f"shared/{i}" for i in range(3)]


def _allocate_in_process(url: str, index: int, barrier: Any, results: Any) -> None:
    """Runs in a spawned process: its own engine, then all keys as fast as possible."""
    try:
        engine = make_engine(url)
        keys = [f"p{index}/k{j}" for j in range(KEYS_PER_PROCESS)] + SHARED_KEYS
        random.Random(index).shuffle(keys)
        barrier.wait(timeout=120)
        started = time.perf_counter()
        got = [(key, a.number, a.created) for key in keys for a in [_allocate(engine, key)]]
        results.put((index, got, time.perf_counter() - started, None))
        engine.dispose()
    except BaseException:
        results.put((index, [], 0.0, traceback.format_exc()))


def test_concurrent_processes_get_unique_numbers_without_gaps(engine: Engine, db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [context.Process(target=_allocate_in_process, args=(db_url, i, barrier, results))
                 for i in range(PROCESSES)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    reports = []
    try:
        for _ in processes:
            reports.append(results.get(timeout=180))
    except queue.Empty:
        pytest.fail(f"only {len(reports)} of {PROCESSES} processes reported within 180 s")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    elapsed = time.perf_counter() - started

    errors = [error for _, _, _, error in reports if error]
    assert not errors, errors[0]
    numbers_by_key: dict[str, set[int]] = defaultdict(set)
    creators_by_key: dict[str, int] = defaultdict(int)
    for _, got, _, _ in reports:
        for key, number, created in got:
            numbers_by_key[key].add(number)
            creators_by_key[key] += created
    expected = PROCESSES * KEYS_PER_PROCESS + len(SHARED_KEYS)
    assert len(numbers_by_key) == expected
    assert all(len(numbers) == 1 for numbers in numbers_by_key.values()), "a key got two numbers"
    assert sorted(n for numbers in numbers_by_key.values() for n in numbers) == list(range(1, expected + 1))
    assert all(creators_by_key[key] == 1 for key in SHARED_KEYS), dict(creators_by_key)
    assert _count(engine, Document) == expected
    with transaction(engine) as session:
        assert session.scalar(sa.select(RegisterCounter.last_number)) == expected
    slowest = max(seconds for _, _, seconds, _ in reports)
    per_process = KEYS_PER_PROCESS + len(SHARED_KEYS)
    print(f"\n{engine.dialect.name}: {PROCESSES} processes x {per_process} allocations: {slowest:.2f} s "
          f"allocating (slowest process), {elapsed:.2f} s with process start-up")


def test_same_key_committed_meanwhile_in_another_year_keeps_its_number(engine: Engine) -> None:
    """A transaction holding the key under another counter (here: another year) is not ordered by the
    counter lock; the allocation must still end with the committed number and leave no gap."""
    key = "par-index-2022/dispatch/ALL"
    outcome: list[Allocation | BaseException] = []

    def allocate_meanwhile() -> None:
        try:
            outcome.append(_allocate(engine, key, issued_on=date(2025, 1, 5)))
        except BaseException as exc:
            outcome.append(exc)

    with transaction(engine) as session:
        session.add(Document(key=key, campaign="par-index-2022", kind="dispatch", register=REGISTER,
                             year=2024, number=7, symbol=SYMBOL, issued_on=date(2024, 12, 30)))
        session.flush()
        thread = threading.Thread(target=allocate_meanwhile)
        thread.start()
        if engine.dialect.name == "postgresql":  # commit only once the other insert waits on our row
            me = session.scalar(sa.select(sa.func.pg_backend_pid()))
            _wait_until(lambda: _blocked_by(engine, me) > 0)
        else:  # SQLite: BEGIN IMMEDIATE makes the other transaction wait for ours
            time.sleep(0.5)
            assert thread.is_alive()
    thread.join(timeout=60)

    assert len(outcome) == 1
    result = outcome[0]
    assert isinstance(result, Allocation), result
    assert (result.number, result.year, result.created) == (7, 2024, False)
    assert _allocate(engine, "par-index-2022/report/ALL", issued_on=date(2025, 1, 6)).number == 1


def _blocked_by(engine: Engine, pid: int | None) -> int:
    with engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
        return conn.scalar(query, {"pid": pid}) or 0


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the concurrent transaction to block")
        time.sleep(0.02)


# -- engines and errors ----------------------------------------------------------------------------------


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
        return {t: sorted(map(tuple, conn.execute(sa.text(f'SELECT * FROM "{t}"'))), key=repr) for t in tables}


def test_init_db_on_a_current_database_writes_nothing_and_the_numbers_continue(engine: Engine) -> None:
    """A restart (congvan's init_db on a current database: "Current: nothing"): the revision, the counters
    and the documents are left exactly as they are, and numbering continues where it stopped."""
    _allocate(engine, "par-index-2022/dispatch/ALL")
    before = _rows(engine)
    assert "alembic_version" in before and before["register_counters"] and before["documents"]
    init_db(engine)
    assert current_state(engine).current
    assert _rows(engine) == before
    assert _allocate(engine, "par-index-2022/report/ALL").number == 2


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    assert path.parent.is_dir()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    # Every transaction takes the write lock at BEGIN (IMMEDIATE), before any statement.
    with engine.begin():
        other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    engine.dispose()


def test_bare_postgresql_url_uses_psycopg() -> None:
    assert make_engine("postgresql://u@localhost/x").dialect.driver == "psycopg"
    assert make_engine("postgres://u@localhost/x").dialect.driver == "psycopg"


@pytest.mark.parametrize("url", ["postgresql+psycopg://u:s3cret@127.0.0.1:1/x", "postgresql://u:s3cret@127.0.0.1:1/x"])
def test_unreachable_database_is_one_line_without_the_password(url: str) -> None:
    engine = make_engine(url)
    actions: list[Callable[[], object]] = [lambda: init_db(engine), lambda: lookup(engine, "k"),
                                           lambda: _allocate(engine, "k")]
    for action in actions:
        with pytest.raises(StoreError) as info:
            action()
        message = str(info.value)
        assert "s3cret" not in message
        assert "postgresql+psycopg://u:***@127.0.0.1:1/x" in message
        assert message.startswith("cannot connect to the database")
        assert "\n" not in message
        assert "s3cret" not in "".join(traceback.format_exception(info.value))


def test_unusable_urls_are_store_errors(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreError, match="cannot create the directory"):
        make_engine(f"sqlite:///{tmp_path / 'a-file' / 'congvan.db'}")
    with pytest.raises(StoreError, match="SQLite or PostgreSQL"):
        make_engine("mysql://u:s3cret@localhost/x")
    with pytest.raises(CongVanError, match="not valid"):
        make_engine("not a url")
