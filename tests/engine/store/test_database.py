"""The store's interface reads the same on both backends: rows, constraint errors, the
clock, and waking up on new work."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from engine.store import ConstraintError, Database, EventKind, JobKind, events, jobs, subjects
from engine.store.database import EVENTS_CHANNEL, JOBS_CHANNEL
from engine.store.subjects import SubjectExistsError


async def test_rows_read_by_index_by_name_and_as_dict(db: Database) -> None:
    await jobs.enqueue(db, JobKind.TRAIN, owner_id=2**62)  # a snowflake needs 64 bits
    row = await db.fetch_one("SELECT id, owner_id, kind FROM jobs")
    assert row is not None
    assert (row[0], row["owner_id"], row["kind"]) == (1, 2**62, "train")
    assert dict(row) == {"id": 1, "owner_id": 2**62, "kind": "train"}
    (one,) = await db.fetch_all("SELECT kind FROM jobs WHERE owner_id = ?", (2**62,))
    assert list(one) == ["train"] and one.keys() == ["kind"]


async def test_a_duplicate_name_is_refused_on_either_backend(db: Database) -> None:
    async with db.transaction() as tx:
        await subjects.create_tx(tx, owner_id=1, name="thor", class_noun="cat")
    with pytest.raises(SubjectExistsError):
        async with db.transaction() as tx:
            await subjects.create_tx(tx, owner_id=1, name="thor", class_noun="dog")
    orphan = """INSERT INTO photos (subject_id, path, source_name, sha256, size_bytes, width,
                                    height, created_at) VALUES (999, 'p', 's', 'h', 1, 1, 1, 0)"""
    with pytest.raises(ConstraintError):  # no subject 999: the foreign key refuses it
        await db.execute(orphan)
    assert [s.class_noun for s in await subjects.list_for_owner(db, 1)] == ["cat"]


async def test_a_failed_transaction_leaves_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=1)
            raise RuntimeError("boom")
    assert await jobs.list_jobs(db) == []


async def test_without_a_clock_rows_carry_the_database_time(store_target: Path | str) -> None:
    async with await Database.open(store_target) as db:
        before = time.time()
        job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
        job = await jobs.get(db, job_id)
        assert job is not None and abs(job.created_at - before) < 5  # one machine: one clock
        assert abs(await db.current_time() - time.time()) < 5


async def test_new_work_wakes_a_waiting_process(store_target: Path | str) -> None:
    """PostgreSQL: NOTIFY on enqueue and on every event wakes the other process's wait at
    once. SQLite: the wait sleeps its whole interval (the poll)."""
    async with (
        await Database.open(store_target) as waiter,
        await Database.open(store_target) as writer,
    ):
        assert not await waiter.wait_for(JOBS_CHANNEL, 0.05)  # nothing yet: the timeout
        engine_wait = asyncio.create_task(waiter.wait_for(JOBS_CHANNEL, 1.0))
        bot_wait = asyncio.create_task(waiter.wait_for(EVENTS_CHANNEL, 1.0))
        await asyncio.sleep(0.1)  # both listening
        started = time.monotonic()
        job_id = await jobs.enqueue(writer, JobKind.TRAIN, owner_id=1)
        await events.append_event(writer, job_id, EventKind.PROGRESS, {"step": 1})
        woken = await asyncio.gather(engine_wait, bot_wait)
        waited = time.monotonic() - started
    if writer.dialect == "postgres":
        assert woken == [True, True] and waited < 0.8
    else:
        assert woken == [False, False] and waited >= 0.6
