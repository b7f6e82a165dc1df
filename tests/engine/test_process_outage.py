"""A store that stops answering for a while (SQLite busy past its timeout, PostgreSQL
restarting) neither ends the engine nor fails its job: store calls are made again until it
answers, and a job it stopped goes back to the queue without spending an attempt. Errors
that are not an outage still surface at once. (The same with real processes and a real
PostgreSQL restart: tests/system/test_store_outage.py.)"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import cast

import psycopg
import pytest
from psycopg_pool import PoolClosed, PoolTimeout

from engine.generation.resident import ResidentPipeline
from engine.job_control import JobControl
from engine.process import Engine
from engine.settings import Settings
from engine.store import (
    ConstraintError,
    Database,
    EventKind,
    JobKind,
    JobState,
    endings,
    events,
    jobs,
)
from engine.store.outage import store_unavailable
from engine.training.progress import TrainingProgress
from tests.engine._claimed import claimed_control

LOCKED = sqlite3.OperationalError("database is locked")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        poll_seconds=0.05,
        heartbeat_seconds=0.2,
    )


class Loaded:
    """A stand-in for the resident pipeline, loaded already: an idle engine loads nothing."""

    loaded = True


def failing_first(times: int, call: Callable, error: BaseException = LOCKED) -> Callable:
    """`call`, except that its first `times` calls raise `error`."""
    left = [times]

    async def flaky(*args: object, **kwargs: object) -> object:
        if left[0] > 0:
            left[0] -= 1
            raise error
        return await call(*args, **kwargs)

    return flaky


def test_outages_are_told_from_errors_of_the_call() -> None:
    assert store_unavailable(LOCKED)
    assert store_unavailable(psycopg.OperationalError("server closed the connection"))
    assert store_unavailable(psycopg.errors.AdminShutdown("terminating connection"))
    assert store_unavailable(psycopg.errors.SerializationFailure("could not serialize"))
    assert store_unavailable(PoolTimeout("couldn't get a connection after 30.00 sec"))
    # The same at every try: an error, however "operational".
    assert not store_unavailable(psycopg.errors.QueryCanceled("statement timeout"))
    assert not store_unavailable(psycopg.errors.DiskFull("could not extend file"))
    assert not store_unavailable(PoolClosed("the pool is closed"))
    assert not store_unavailable(sqlite3.OperationalError("no such table: jobs"))
    assert not store_unavailable(psycopg.errors.UniqueViolation("duplicate key"))
    assert not store_unavailable(ConstraintError("UNIQUE constraint failed"))
    assert not store_unavailable(ValueError("database is locked"))


async def test_a_job_threads_store_call_waits_for_the_store(
    db: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    control = JobControl(asyncio.get_running_loop(), db, settings, job, "gpu-0")
    read = failing_first(2, jobs.get)

    with caplog.at_level(logging.INFO, logger="engine.job_control"):
        got = await asyncio.to_thread(control.wait, lambda: read(db, job_id))

    assert got is not None and got.id == job_id
    assert caplog.text.count("job 1: the store did not answer (database is locked)") == 1
    assert "job 1: the store answers again after" in caplog.text


async def test_a_job_threads_store_call_raises_other_errors_and_stops(
    db: Database, settings: Settings
) -> None:
    await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    control = JobControl(asyncio.get_running_loop(), db, settings, job, "gpu-0")
    wrong = failing_first(1, jobs.get, sqlite3.OperationalError("no such column: nope"))
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        await asyncio.to_thread(control.wait, lambda: wrong(db, job.id))

    # A job asked to stop (a cancel, a lost lease) does not wait for the store: the engine
    # settles it once the store answers. A call the job can do without (a progress line,
    # an event a resumed job sends again) returns None, so the job reaches its checkpoint.
    never = failing_first(10**6, jobs.get)
    threading.Timer(0.3, control.request_stop, ("cancel",)).start()
    began = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await asyncio.to_thread(control.wait, lambda: never(db, job.id))
    assert time.monotonic() - began < 2.0
    skipped = await asyncio.to_thread(control.wait, lambda: never(db, job.id), skippable=True)
    assert skipped is None


async def test_the_idle_engine_waits_for_the_store(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setattr(jobs, "claim_next", failing_first(2, jobs.claim_next))
    with caplog.at_level(logging.INFO, logger="engine.process"):
        await asyncio.wait_for(Engine(settings, db, "gpu-0").run(until_idle=True), timeout=30)

    assert caplog.text.count("engine gpu-0: the store did not answer (database is locked)") == 1
    assert "engine gpu-0: the store answers again after" in caplog.text


async def test_a_job_the_store_stopped_goes_back_without_spending_an_attempt(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """The store fails under the job's own calls (say, its ending after minutes of
    training): the job is not failed but given back, claimed again and finished."""
    job_id = await jobs.enqueue(db, JobKind.GENERATE, owner_id=1)
    runs: list[int] = []

    async def dispatch(engine: Engine, control: JobControl) -> None:
        runs.append(control.job.attempts)
        if len(runs) == 1:
            raise psycopg.OperationalError("consuming input failed: server closed the connection")
        await endings.succeed(db, control.job.id, engine.engine_id, {"images": 0})

    monkeypatch.setattr(Engine, "_dispatch", dispatch)
    with caplog.at_level(logging.INFO, logger="engine.process"):
        await asyncio.wait_for(Engine(settings, db, "gpu-0").run(until_idle=True), timeout=30)

    job = await jobs.get(db, job_id)
    assert job is not None and job.state is JobState.SUCCEEDED
    assert runs == [1, 1]  # the second claim is attempt 1 again
    kinds = [e.kind for e in await events.for_job(db, job_id)]
    assert EventKind.FAILED not in kinds and EventKind.QUEUED in kinds
    assert "job 1, left running by an outage, returned to the queue" in caplog.text


async def test_a_claim_whose_answer_the_store_lost_is_given_back(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL committed the claim, then the connection died before its answer: the
    engine never learnt of the job, which would sit running under its claim until the
    lease ran out and then count as a failed attempt."""
    job_id = await jobs.enqueue(db, JobKind.GENERATE, owner_id=1)
    claim = jobs.claim_next
    lost = [True]

    async def answer_lost(*args: object, **kwargs: object) -> object:
        job = await claim(*args, **kwargs)  # type: ignore[arg-type]
        if lost.pop() if lost else False:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return job

    async def dispatch(engine: Engine, control: JobControl) -> None:
        await endings.succeed(db, control.job.id, engine.engine_id, {"images": 0})

    monkeypatch.setattr(jobs, "claim_next", answer_lost)
    monkeypatch.setattr(Engine, "_dispatch", dispatch)
    await asyncio.wait_for(Engine(settings, db, "gpu-0").run(until_idle=True), timeout=30)

    job = await jobs.get(db, job_id)
    assert job is not None and job.state is JobState.SUCCEEDED and job.attempts == 1


async def test_a_job_whose_lease_ran_out_in_an_outage_goes_back_unspent(
    db: Database, settings: Settings
) -> None:
    """No renewal for a whole lease stops the job; if no other engine took it meanwhile,
    it goes back to the queue with its attempt given back."""
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    control = JobControl(asyncio.get_running_loop(), db, settings, job, "gpu-0")
    control.request_stop("lease-lost")

    await Engine(settings, db, "gpu-0")._interrupted(control, step=40)

    back = await jobs.get(db, job_id)
    assert back is not None and back.state is JobState.QUEUED and back.attempts == 0


async def test_an_earlier_lifes_job_under_the_same_id_is_left_to_the_reaper(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A container restarted with the same hostname and pid is the same engine id: the job
    its earlier life died running (say, one that crashed it) is not given back unspent by
    the new life's sweep, so a job that keeps crashing engines still runs out of attempts."""
    crashed = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    assert (await jobs.claim_next(db, "gpu-0", 60)) is not None  # then the engine died
    later = await jobs.enqueue(db, JobKind.GENERATE, owner_id=2)

    async def dispatch(engine: Engine, control: JobControl) -> None:
        await endings.succeed(db, control.job.id, engine.engine_id, {"images": 0})

    monkeypatch.setattr(Engine, "_dispatch", dispatch)
    # An outage at the new life's first claim: the sweep that follows one is what must
    # leave the earlier life's job alone.
    monkeypatch.setattr(jobs, "claim_next", failing_first(1, jobs.claim_next))
    engine = Engine(settings, db, "gpu-0", cast(ResidentPipeline, Loaded()))
    running = asyncio.create_task(engine.run())
    try:
        for _ in range(200):
            done = await jobs.get(db, later)
            if done is not None and done.state is JobState.SUCCEEDED:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a few idle rounds more
    finally:
        engine.shutdown()
        await asyncio.wait_for(running, timeout=10)

    left = await jobs.get(db, crashed)
    assert left is not None and (left.state, left.attempts) == (JobState.RUNNING, 1)


async def test_a_training_stopped_while_the_store_is_away_still_reaches_its_checkpoint(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM (or a cancel) while the store does not answer: the progress and checkpoint
    events it cannot write are skipped instead of raised, so the training gets to save its
    checkpoint and stop; a resumed job announces that checkpoint then."""
    control = await claimed_control(db, settings)
    job = control.job
    progress = TrainingProgress(control)
    saved = settings.job_dir(job.id) / "checkpoints" / "step-000010"
    saved.mkdir(parents=True)
    (saved / "state.json").write_text("{}")

    def away() -> object:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(db, "transaction", away)
    control.request_stop("shutdown")

    def step_then_checkpoint() -> None:
        progress.on_progress(10, 500, 0.1, 0.5)
        progress.on_checkpoint(10, saved)

    await asyncio.wait_for(asyncio.to_thread(step_then_checkpoint), timeout=10)
    monkeypatch.undo()  # the store is back; the job resumes elsewhere and announces it
    await progress.announce_saved_checkpoints(settings.job_dir(job.id))
    [announced] = await events.for_job(db, job.id, EventKind.CHECKPOINT)
    assert announced.payload["step"] == 10
