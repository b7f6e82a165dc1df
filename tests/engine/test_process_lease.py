"""While a job runs, its engine keeps the lease through a store that fails for a while (SQLite
busy past its timeout, a dropped PostgreSQL connection) and stops the job as a lost lease
once no renewal has succeeded for a whole lease (another engine may hold it by then)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest

from engine.job_control import JobControl
from engine.process import Engine
from engine.settings import Settings
from engine.store import Database, JobKind, jobs

LEASE_S = 2.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        lease_seconds=LEASE_S,
        heartbeat_seconds=0.2,
    )


async def keeping(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, failures: int
) -> tuple[JobControl, asyncio.Task[None], int]:
    """A claimed job whose lease the engine keeps, through a store whose next `failures`
    heartbeats raise."""
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    job = await jobs.claim_next(db, "gpu-0", LEASE_S)
    assert job is not None and job.id == job_id
    renew = jobs.heartbeat
    left = [failures]

    async def busy(*args: object, **kwargs: object) -> object:
        if left[0] > 0:
            left[0] -= 1
            raise sqlite3.OperationalError("database is locked")
        return await renew(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jobs, "heartbeat", busy)
    control = JobControl(asyncio.get_running_loop(), db, settings, job, "gpu-0")
    task = asyncio.create_task(Engine(settings, db, "gpu-0")._keep_lease(control))
    return control, task, job_id


async def test_a_store_busy_for_a_while_does_not_end_the_lease(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    with caplog.at_level(logging.INFO, logger="engine.process"):
        control, task, job_id = await keeping(db, settings, monkeypatch, failures=3)
        await asyncio.sleep(1.5 * LEASE_S)
        job = await jobs.get(db, job_id)
        alive = not task.done()
        task.cancel()

    assert alive
    assert not control.should_stop()
    assert job is not None and job.lease_until > await db.current_time()  # still renewed
    assert caplog.text.count("the store did not answer (database is locked)") == 1
    assert "the store answers again" in caplog.text


async def test_a_store_failing_for_a_whole_lease_stops_the_job(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    control, task, _ = await keeping(db, settings, monkeypatch, failures=1000)
    await asyncio.sleep(LEASE_S + 1.0)
    task.cancel()

    assert control.stop_reason == "lease-lost"
