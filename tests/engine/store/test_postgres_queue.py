"""The queue on PostgreSQL with several processes: four plain Python workers (the store's
claim_next and endings.succeed, no torch) drain 200 jobs of five owners."""

from __future__ import annotations

import asyncio
import multiprocessing

from engine.store import Database, EventKind, JobKind, JobState, endings, jobs
from tests.postgres import PostgresServer

OWNERS = {1: 80, 2: 50, 3: 40, 4: 20, 5: 10}  # 200 jobs, queued owner after owner


def _work(url: str, worker: str, out: multiprocessing.Queue, ready, go) -> None:
    async def run() -> list[int]:
        claimed = []
        async with await Database.open(url) as db:
            # Every worker connected before any claims: one slow to start (spawn imports,
            # a loaded machine) would otherwise find the 200 jobs drained already.
            ready.put(worker)
            assert go.wait(timeout=60)
            while (job := await jobs.claim_next(db, worker, 60)) is not None:
                claimed.append(job.id)
                assert await endings.succeed(db, job.id, worker, {})
        return claimed

    out.put(asyncio.run(run()))


def test_four_worker_processes_share_200_jobs_fairly(postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_database()

    async def fill() -> list[int]:
        async with await Database.open(url) as db:
            for owner, count in OWNERS.items():
                for _ in range(count):
                    await jobs.enqueue(db, JobKind.TRAIN, owner_id=owner)
            return [job.id for job in await jobs.queue_order(db)]

    fair_order = asyncio.run(fill())
    ctx = multiprocessing.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    workers = [ctx.Process(target=_work, args=(url, f"w{i}", out, ready, go)) for i in range(4)]
    for process in workers:
        process.start()
    for _ in workers:
        ready.get(timeout=60)
    go.set()
    results = [out.get(timeout=60) for _ in workers]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0

    claimed = [job_id for result in results for job_id in result]
    assert sorted(claimed) == list(range(1, 201))  # every job once, none twice
    assert all(results), "every worker got work"

    async def check() -> None:
        async with await Database.open(url) as db:
            done = await jobs.list_jobs(db)
            assert {(j.state, j.attempts) for j in done} == {(JobState.SUCCEEDED, 1)}
            # Each claim writes its "started" event under the claim lock: event ids are
            # the order the queue served.
            rows = await db.fetch_all(
                "SELECT job_id FROM events WHERE kind = ? ORDER BY id", (EventKind.STARTED.value,)
            )
        # Round robin, exactly as SQLite serves it (queue_order simulates it): owner 1's 80
        # jobs, queued first, did not starve the owners queued after.
        assert [row["job_id"] for row in rows] == fair_order

    asyncio.run(check())
