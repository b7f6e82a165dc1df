"""The queue on a real SQLite file and a real PostgreSQL database: claims, leases, attempts,
fairness, cancellation, and (SQLite here; PostgreSQL in test_postgres_queue.py) several
processes claiming and writing at once."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from pathlib import Path

from engine.store import Database, EventKind, JobKind, JobState, endings, events, jobs
from engine.store.migrate import migrate
from tests.engine.store._clock import FakeClock


async def test_claim_returns_running_job_with_lease(db: Database, clock: FakeClock) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1, params={"steps": 5})
    job = await jobs.claim_next(db, "w1", lease_seconds=30)
    assert job is not None and job.id == job_id
    assert job.state is JobState.RUNNING and job.attempts == 1 and job.engine_id == "w1"
    assert job.lease_until == clock.now + 30
    assert job.params == {"steps": 5}
    assert await jobs.claim_next(db, "w2", lease_seconds=30) is None


async def test_heartbeat_extends_lease_only_for_owner(db: Database, clock: FakeClock) -> None:
    await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    job = await jobs.claim_next(db, "w1", 30)
    assert job is not None
    clock.now += 20
    beat = await jobs.heartbeat(db, job.id, "w1", 30)
    assert beat is not None and beat.lease_until == clock.now + 30
    assert await jobs.heartbeat(db, job.id, "intruder", 30) is None


async def test_expired_lease_is_requeued_and_resumed(db: Database, clock: FakeClock) -> None:
    await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    first = await jobs.claim_next(db, "dead-engine", 30)
    assert first is not None
    clock.now += 10
    assert await jobs.requeue_expired(db) == 0  # lease still valid
    assert await jobs.claim_next(db, "w2", 30) is None
    clock.now += 21
    assert await jobs.requeue_expired(db) == 1  # the engines' reaper
    second = await jobs.claim_next(db, "w2", 30)
    assert second is not None and second.id == first.id and second.attempts == 2
    assert second.started_at == first.started_at  # the first start is kept for ETAs
    kinds = [e.kind for e in await events.for_job(db, first.id)]
    assert kinds == [EventKind.STARTED, EventKind.RETRYING]
    # the dead engine can no longer finish or heartbeat it
    assert not await endings.succeed(db, first.id, "dead-engine", {})
    assert await jobs.heartbeat(db, first.id, "dead-engine", 30) is None


async def test_attempts_cap_fails_job_with_event(db: Database, clock: FakeClock) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1, max_attempts=2)
    for _ in range(2):
        assert await jobs.claim_next(db, "w", 5) is not None
        clock.now += 6
        await jobs.requeue_expired(db)
    assert await jobs.claim_next(db, "w", 5) is None
    job = await jobs.get(db, job_id)
    assert job is not None and job.state is JobState.FAILED
    assert job.error and "2 times" in job.error
    failed = await events.for_job(db, job_id, EventKind.FAILED)
    assert len(failed) == 1 and "2 times" in failed[0].payload["error"]


async def test_generation_goes_before_training(db: Database) -> None:
    train = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    gen = await jobs.enqueue(db, JobKind.GENERATE, owner_id=2)
    first = await jobs.claim_next(db, "w", 30)
    assert first is not None and first.id == gen
    second = await jobs.claim_next(db, "w", 30)
    assert second is not None and second.id == train


async def test_training_is_round_robin_across_users(db: Database, clock: FakeClock) -> None:
    a1 = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    a2 = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    a3 = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    b1 = await jobs.enqueue(db, JobKind.TRAIN, owner_id=2)
    b2 = await jobs.enqueue(db, JobKind.TRAIN, owner_id=2)
    c1 = await jobs.enqueue(db, JobKind.TRAIN, owner_id=3)
    expected = [a1, b1, c1, a2, b2, a3]
    assert [j.id for j in await jobs.queue_order(db)] == expected
    claimed = []
    while (job := await jobs.claim_next(db, "w", 30)) is not None:
        claimed.append(job.id)
        assert await endings.succeed(db, job.id, "w", {})
        clock.now += 1
    assert claimed == expected


async def test_cancel_queued_and_running(db: Database) -> None:
    queued = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    running = await jobs.enqueue(db, JobKind.GENERATE, owner_id=1)
    claimed = await jobs.claim_next(db, "w", 30)
    assert claimed is not None and claimed.id == running
    assert await jobs.cancel(db, queued) is JobState.CANCELLED
    assert await jobs.cancel(db, running) is JobState.RUNNING
    beat = await jobs.heartbeat(db, running, "w", 30)
    assert beat is not None and beat.cancel_requested
    assert await jobs.cancel(db, queued) is None  # already finished
    assert await jobs.cancel(db, 999) is None
    assert await jobs.claim_next(db, "w", 30) is None


def _claim_until_empty(path: str, worker: str, out: multiprocessing.Queue) -> None:
    async def run() -> list[int]:
        got = []
        async with await Database.open(Path(path)) as db:
            while (job := await jobs.claim_next(db, worker, 60)) is not None:
                got.append(job.id)
                await endings.succeed(db, job.id, worker, {})
        return got

    out.put(asyncio.run(run()))


def test_concurrent_claimers_never_double_assign(tmp_path: Path) -> None:
    path = tmp_path / "race.sqlite3"

    async def fill() -> None:
        async with await Database.open(path) as db:
            for i in range(60):
                await jobs.enqueue(db, JobKind.TRAIN, owner_id=i % 7)

    asyncio.run(fill())
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_claim_until_empty, args=(str(path), f"w{i}", out)) for i in range(4)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    claimed = [job_id for r in results for job_id in r]
    assert sorted(claimed) == list(range(1, 61))  # every job once, none twice


def _enqueue_many(path: str, owner: int, count: int) -> None:
    async def run() -> None:
        async with await Database.open(Path(path)) as db:
            for _ in range(count):
                await jobs.enqueue(db, JobKind.GENERATE, owner_id=owner)

    asyncio.run(run())


def _claim_until_done(path: str, worker: str, writers_done, out: multiprocessing.Queue) -> None:
    async def run() -> list[int]:
        claimed: list[int] = []
        async with await Database.open(Path(path)) as db:
            while True:
                finished_writing = writers_done.is_set()  # read before the claim
                job = await jobs.claim_next(db, worker, 60)
                if job is None:
                    if finished_writing:
                        return claimed
                    await asyncio.sleep(0.01)
                    continue
                claimed.append(job.id)
                await endings.succeed(db, job.id, worker, {})
        return claimed

    out.put(asyncio.run(run()))


def test_concurrent_writers_lose_no_job(tmp_path: Path) -> None:
    path = str(tmp_path / "busy.sqlite3")
    migrate(Path(path))
    ctx = multiprocessing.get_context("spawn")
    out, writers_done = ctx.Queue(), ctx.Event()
    claimers = [
        ctx.Process(target=_claim_until_done, args=(path, f"w{i}", writers_done, out))
        for i in range(2)
    ]
    writers = [ctx.Process(target=_enqueue_many, args=(path, owner, 50)) for owner in range(4)]
    for process in claimers + writers:
        process.start()
    for process in writers:
        process.join(timeout=60)
        assert process.exitcode == 0
    writers_done.set()
    claimed = [job_id for _ in claimers for job_id in out.get(timeout=60)]
    with sqlite3.connect(path) as conn:
        total = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        left = conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
    assert total == 200
    assert len(claimed) == len(set(claimed)) == 200 - left
    assert left == 0
