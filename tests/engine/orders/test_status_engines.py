"""Which engines /status and `petbooth status` show as alive, and with which job: on a real
SQLite file whose clock the test moves (one rule: `engine.orders.liveness`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.orders.liveness import FRESH_HEARTBEATS, live_engines
from engine.orders.status import build_status, engine_state
from engine.settings import Settings
from engine.store import Database, JobKind, endings, engines, jobs
from tests.engine.store._clock import FakeClock

HEARTBEAT = 10.0  # seconds, the default period
FRESH_FOR = FRESH_HEARTBEATS * HEARTBEAT


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, heartbeat_seconds=HEARTBEAT)


@pytest.fixture
async def db(settings: Settings, clock: FakeClock) -> AsyncIterator[Database]:
    async with await Database.open(settings.database_path, clock=clock) as database:
        yield database


async def engine_rows(db: Database) -> dict[str, dict]:
    report = await build_status(db, heartbeat_seconds=HEARTBEAT)
    return {e["engine_id"]: e for e in report.engines}


async def running_on_gpu_0(db: Database) -> int:
    """A training claimed by the engine "gpu-0", which has just beaten with it."""
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    assert await jobs.claim_next(db, "gpu-0", 60) is not None
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=job_id)
    return job_id


async def test_an_engine_is_alive_while_its_heartbeat_is_fresh(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)

    clock.now += FRESH_FOR
    assert (await engine_rows(db))["gpu-0"]["alive"]
    assert [e.engine_id for e in await live_engines(db, settings)] == ["gpu-0"]

    clock.now += 1
    silent = (await engine_rows(db))["gpu-0"]
    assert not silent["alive"] and silent["heartbeat_age_seconds"] == FRESH_FOR + 1
    assert await live_engines(db, settings) == []  # the bot's promises use the same rule
    assert engine_state(silent) == "not heard from for 31 s"


async def test_a_running_job_is_its_engines_current_job(db: Database, clock: FakeClock) -> None:
    job_id = await running_on_gpu_0(db)
    clock.now += 3

    row = (await engine_rows(db))["gpu-0"]

    assert row["alive"] and row["job_id"] == job_id
    assert engine_state(row) == f"heartbeat 3 s ago, running job {job_id}"


async def test_a_job_finished_elsewhere_is_not_the_killed_engines_job(
    db: Database, clock: FakeClock
) -> None:
    job_id = await running_on_gpu_0(db)
    clock.now += 61  # gpu-0 was SIGKILLed: no more beats, its lease runs out
    assert await jobs.claim_next(db, "gpu-1", 60) is not None
    await engines.beat(db, "gpu-1", pid=2, device="cuda:1", job_id=job_id)

    during = await engine_rows(db)
    assert during["gpu-0"]["job_id"] is None  # the job is gpu-1's now
    assert during["gpu-1"]["job_id"] == job_id

    assert await endings.succeed(db, job_id, "gpu-1", {})
    after = await engine_rows(db)  # gpu-1's row still names the job until its next beat
    assert after["gpu-1"]["job_id"] is None
    assert engine_state(after["gpu-1"]) == "heartbeat 0 s ago, idle"
    assert engine_state(after["gpu-0"]) == "not heard from for 61 s"


async def test_a_silent_engine_keeps_its_last_job_until_the_lease_moves_it(
    db: Database, clock: FakeClock
) -> None:
    job_id = await running_on_gpu_0(db)
    clock.now += 45

    row = (await engine_rows(db))["gpu-0"]

    assert not row["alive"] and row["job_id"] == job_id  # still running, on its lease
    assert engine_state(row) == f"not heard from for 45 s, was running job {job_id}"


async def test_a_silent_engine_is_shown_until_a_starting_engine_forgets_it(
    db: Database, clock: FakeClock
) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)
    clock.now += 540

    assert engine_state((await engine_rows(db))["gpu-0"]) == "not heard from for 9 min"
    assert await engines.forget_silent(db, 10 * 60.0) == 0  # what Engine.run does at start
    clock.now += 61
    assert await engines.forget_silent(db, 10 * 60.0) == 1
    assert await engine_rows(db) == {}


async def test_an_engine_loading_its_model_says_so_and_since_when(
    db: Database, clock: FakeClock
) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None, loading=True)
    clock.now += 150  # the first start downloads SDXL: minutes
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None, loading=True)
    clock.now += 3

    loading = (await engine_rows(db))["gpu-0"]
    assert loading["alive"] and loading["loading_for_seconds"] == 153
    assert (
        engine_state(loading) == "heartbeat 3 s ago, loading its model (engine started 3 min ago)"
    )
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)
    assert engine_state((await engine_rows(db))["gpu-0"]) == "heartbeat 0 s ago, idle"
