"""The per-campaign lock, on SQLite and PostgreSQL: one holder at a time across processes, released
when the holder dies (SIGKILL), and a clear error after waiting too long."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from congvan.errors import StoreError
from congvan.store import init_db, make_engine
from congvan.store.db import campaign_lock


def _hold(url: str, campaign: str, ready: Path, seconds: float) -> None:
    engine = make_engine(url)
    with campaign_lock(engine, campaign):
        ready.write_text("held")
        time.sleep(seconds)


def _holder(url: str, campaign: str, tmp_path: Path, seconds: float) -> multiprocessing.process.BaseProcess:
    ready = tmp_path / f"ready-{campaign}"
    process = multiprocessing.get_context("spawn").Process(target=_hold, args=(url, campaign, ready, seconds))
    process.start()
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline and process.is_alive(), "the holder never took the lock"
        time.sleep(0.05)
    return process


def test_a_second_run_waits_and_then_gives_a_clear_error(db_url: str, tmp_path: Path) -> None:
    init_db(make_engine(db_url))
    holder = _holder(db_url, "par-index-2022", tmp_path, 30)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="another run of campaign 'par-index-2022' is still in progress"), \
                campaign_lock(make_engine(db_url), "par-index-2022", wait=0.6):
            pass
        assert time.monotonic() - started >= 0.6
        with campaign_lock(make_engine(db_url), "another-campaign", wait=0):
            pass  # other campaigns are not held up
    finally:
        holder.kill()
        holder.join()


@pytest.mark.postgres
def test_two_schemas_of_one_postgresql_database_do_not_hold_each_others_campaigns(postgres_url: str,
                                                                                   other_postgres_url: str) -> None:
    """Advisory locks belong to the database, congvan's tables to a schema (an installation each, or a test each):
    a campaign held in one schema is free in another, and still held for its own schema's other sessions."""
    mine, theirs, again = make_engine(postgres_url), make_engine(other_postgres_url), make_engine(postgres_url)
    init_db(mine)
    init_db(theirs)
    with campaign_lock(mine, "par-index-2022", wait=0):
        with campaign_lock(theirs, "par-index-2022", wait=0):
            pass
        with pytest.raises(StoreError), campaign_lock(again, "par-index-2022", wait=0):
            pass
    for engine in (mine, theirs, again):
        engine.dispose()


def test_the_lock_dies_with_its_holder(db_url: str, tmp_path: Path) -> None:
    init_db(make_engine(db_url))
    holder = _holder(db_url, "par-index-2022", tmp_path, 60)
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()
    with campaign_lock(make_engine(db_url), "par-index-2022", wait=10):
        pass


def test_a_released_lock_is_free_at_once(db_url: str) -> None:
    engine = make_engine(db_url)
    init_db(engine)
    taken = 0
    for _ in range(3):
        with campaign_lock(engine, "par-index-2022", wait=0):
            # Held: another holder (another connection, another open file) is refused at once.
            with pytest.raises(StoreError), campaign_lock(make_engine(db_url), "par-index-2022", wait=0):
                pass
            taken += 1
    assert taken == 3
