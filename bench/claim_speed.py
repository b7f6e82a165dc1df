"""Queue speed on each backend: enqueue -> claim latency, and claims per second.

    python bench/claim_speed.py                       # SQLite and a throwaway PostgreSQL
    python bench/claim_speed.py --postgres URL        # an existing PostgreSQL (its data stays)
    python bench/claim_speed.py --jobs 400 --samples 20 --no-write

Latency: one idle engine loop (claim; nothing: ``wait_for`` the jobs channel up to the poll
interval, as ``engine.process`` does) while another connection enqueues a job at random
moments (0.05-0.6 s apart);
each sample is the time from the enqueue's start to the claim returning. SQLite only
polls, so it is about half the poll interval; PostgreSQL's NOTIFY wakes the loop at once.
Throughput: 1, 4 and 16 worker processes (plain Python, no torch) drain a filled queue with
``claim_next`` + ``endings.succeed``, one job after another; claims per second is jobs over
the wall time from the common start to the last success. Rows go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import append_section
from engine.store import Database, JobKind, endings, jobs
from engine.store.database import JOBS_CHANNEL

POLL_SECONDS = 1.0  # Settings.poll_seconds' default
LEASE = 600.0


async def _latency(target: Path | str, samples: int) -> list[float]:
    """From the start of each enqueue to its claim returning, in seconds."""
    enqueued: dict[int, float] = {}
    claimed: dict[int, float] = {}
    async with await Database.open(target) as engine_db, await Database.open(target) as bot_db:

        async def engine() -> None:
            while len(claimed) < samples:
                job = await jobs.claim_next(engine_db, "bench", LEASE)
                if job is None:
                    await engine_db.wait_for(JOBS_CHANNEL, POLL_SECONDS)
                    continue
                claimed[job.id] = time.perf_counter()
                await endings.succeed(engine_db, job.id, "bench", {})

        async def bot() -> None:
            spacing = random.Random(0)  # orders at random moments of the engine's poll cycle
            for _ in range(samples):
                await asyncio.sleep(spacing.uniform(0.05, 0.6))
                started = time.perf_counter()
                enqueued[await jobs.enqueue(bot_db, JobKind.GENERATE, owner_id=1)] = started

        await engine_db.wait_for(JOBS_CHANNEL, 0.01)  # listening, as a running engine is
        await asyncio.gather(engine(), bot())
    return [claimed[job_id] - enqueued[job_id] for job_id in enqueued]


def _drain(
    target: str,
    worker: str,
    ready: multiprocessing.Queue,
    start: object,
    out: multiprocessing.Queue,
) -> None:
    async def run() -> int:
        done = 0
        async with await Database.open(target) as db:
            await jobs.get(db, 1)  # connected, warm
            ready.put(worker)
            start.wait()  # type: ignore[attr-defined]
            while (job := await jobs.claim_next(db, worker, LEASE)) is not None:
                await endings.succeed(db, job.id, worker, {})
                done += 1
        return done

    out.put((asyncio.run(run()), time.perf_counter()))


def _throughput(target: str, workers: int, count: int) -> float:
    async def fill() -> None:
        async with await Database.open(target) as db, db.transaction() as tx:
            for i in range(count):
                await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=i % 10)

    asyncio.run(fill())
    ctx = multiprocessing.get_context("spawn")
    ready, out, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_drain, args=(target, f"w{i}", ready, start, out))
        for i in range(workers)
    ]
    for process in procs:
        process.start()
    for _ in procs:  # every worker imported and connected before the clock starts
        ready.get(timeout=120)
    began = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    for process in procs:
        process.join()
    assert sum(done for done, _ in results) == count, results
    return count / (max(end for _, end in results) - began)


def _targets(args: argparse.Namespace, scratch: Path) -> list[tuple[str, object]]:
    """(backend, callable giving a fresh target) for each backend measured."""
    counter = iter(range(1000))
    targets: list[tuple[str, object]] = [
        ("SQLite (WAL file)", lambda: str(scratch / f"bench-{next(counter)}.sqlite3"))
    ]
    if args.postgres:
        targets.append(("PostgreSQL", lambda: args.postgres))
    else:
        from tests.postgres import PostgresServer

        server = PostgresServer().start()
        args.server = server
        targets.append(("PostgreSQL 18 (local, fsync off)", server.fresh_database))
    return targets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="an existing database's URL (its jobs are drained)")
    parser.add_argument("--jobs", type=int, default=400, help="jobs per throughput run")
    parser.add_argument("--samples", type=int, default=20, help="enqueue -> claim samples")
    parser.add_argument("--workers", default="1,4,16")
    parser.add_argument("--no-write", action="store_true", help="print, not BENCHMARKS.md")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            for backend, fresh in _targets(args, Path(scratch)):
                waits = sorted(asyncio.run(_latency(fresh(), args.samples)))  # type: ignore[operator]
                for workers in (int(w) for w in args.workers.split(",")):
                    rate = _throughput(fresh(), workers, args.jobs)  # type: ignore[operator]
                    rows.append(
                        {
                            "backend": backend,
                            "enqueue->claim ms (median)": round(statistics.median(waits) * 1000, 1),
                            "enqueue->claim ms (p95)": round(
                                waits[int(0.95 * (len(waits) - 1))] * 1000, 1
                            ),
                            "workers": workers,
                            "claims/s (claim + succeed)": round(rate),
                        }
                    )
                    print(rows[-1], flush=True)
        finally:
            if getattr(args, "server", None) is not None:
                args.server.stop()
    if not args.no_write:
        notes = (
            f"`python bench/claim_speed.py` ({args.jobs} jobs of 10 owners per run; idle engine "
            f"polls every {POLL_SECONDS:g} s; PostgreSQL wakes it by NOTIFY)"
        )
        print(append_section("Queue: enqueue -> claim latency, claims per second", rows, notes))


if __name__ == "__main__":
    main()
