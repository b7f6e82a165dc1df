"""Fault suite, engine side: an unwritable job folder fails that job in words and nothing
else; generation is served while a training runs; SQLite busy loses no job."""

from __future__ import annotations

import asyncio
import errno
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from engine.failures import describe_failure, is_expected_failure
from engine.store import Database, JobKind, endings, jobs
from engine.store.migrate import migrate
from tests.engine_env import (
    engine_env,
    event_rows,
    petbooth,
    queue_training,
    reached,
    start_petbooth,
    wait_until,
)
from tests.samples import write_photos


def job_rows(database: Path) -> dict[int, tuple[str, str | None]]:
    with sqlite3.connect(database) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, state, error FROM jobs")}


@pytest.mark.slow
def test_unwritable_job_folder_fails_that_job_only(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    env = engine_env(data, tiny_model_dir)
    photos = write_photos(tmp_path / "photos", 5)
    broken = queue_training(env, photos, steps=4, checkpoint_every=5, owner=1)
    healthy = queue_training(env, photos, steps=4, checkpoint_every=5, name="loki", owner=2)
    (data / "jobs").mkdir(parents=True)
    (data / "jobs" / str(broken)).write_text("a file where the job folder should be")

    ran = petbooth("engine", "--until-idle", env=env)
    assert ran.returncode == 0, ran.stderr
    states = job_rows(data / "petbooth.sqlite3")
    assert states[healthy][0] == "succeeded"
    assert states[broken][0] == "failed"
    assert "cannot write to its data directory" in (states[broken][1] or "")
    (failed,) = event_rows(data / "petbooth.sqlite3", "failed")
    assert "petbooth doctor" in failed["error"]
    assert "Traceback" not in ran.stderr  # said in words, not as a stack trace


def test_disk_full_and_unexpected_errors_are_described() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert "out of disk space" in describe_failure(full) and is_expected_failure(full)
    odd = ZeroDivisionError("x")
    assert "unexpectedly (ZeroDivisionError)" in describe_failure(odd)
    assert not is_expected_failure(odd)


@pytest.mark.slow
def test_generation_is_served_while_a_training_runs(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    database = data / "petbooth.sqlite3"
    env = engine_env(
        data, tiny_model_dir, PETBOOTH_GENERATION__RESOLUTION="64", PETBOOTH_GENERATION__STEPS="2"
    )
    train = queue_training(env, write_photos(tmp_path / "photos", 5), steps=60, checkpoint_every=5)
    engine = start_petbooth("engine", "--until-idle", env=env)
    try:
        wait_until(reached(database, "progress", 3), engine, "step 3")
        picture = petbooth(
            "imagine", "a lighthouse at dusk", "--owner", "7", "--seed", "1", env=env
        )
        assert picture.returncode == 0, picture.stderr
        assert engine.wait(timeout=300) == 0
    finally:
        engine.kill()
    with sqlite3.connect(database) as conn:
        order = [
            (job_id, kind, json.loads(payload))
            for job_id, kind, payload in conn.execute(
                "SELECT job_id, kind, payload FROM events WHERE kind IN ('done', 'progress') "
                "ORDER BY id"
            )
        ]
    generated = next(i for i, (job, kind, _) in enumerate(order) if job != train and kind == "done")
    later_progress = [p["step"] for job, kind, p in order[generated:] if kind == "progress"]
    assert later_progress and later_progress[0] < 60, "the picture waited for the training"
    assert job_rows(database)[train][0] == "succeeded"


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
