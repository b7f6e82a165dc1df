"""The store goes away and comes back: PostgreSQL ends the engine's connections mid-statement
(a network fault), then restarts as a crash or failover would. The running training neither
fails nor spends an attempt; the engine waits for the store and stays up (real processes, a
PostgreSQL server of the test's own, so the session's is not disturbed)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_env import (
    engine_site,
    query,
    queue_training,
    reached,
    start_petbooth,
    wait_until,
)
from tests.postgres import PostgresServer
from tests.samples import write_photos

pytestmark = pytest.mark.slow


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server this test may restart without disturbing the session's."""
    server = PostgresServer().start()
    yield server
    server.stop()


def test_a_postgres_restart_mid_training_loses_nothing(
    tmp_path: Path, tiny_model_dir: Path, own_postgres: PostgresServer
) -> None:
    database = own_postgres.fresh_database()
    _, _, env = engine_site(tmp_path, tiny_model_dir, PETBOOTH_DATABASE=database)
    job = queue_training(env, write_photos(tmp_path / "photos", 5), steps=30, checkpoint_every=5)
    engine = start_petbooth("engine", "--until-idle", env=env)
    try:
        wait_until(reached(database, "progress", 3), engine, "step 3")
        cut = own_postgres.cut_writers(database, "events")  # the training's next progress
        own_postgres.restart(down_seconds=3)
        out, _ = engine.communicate(timeout=240)
    finally:
        if engine.poll() is None:
            engine.send_signal(signal.SIGKILL)
            engine.wait()
    assert engine.returncode == 0, out
    ((state, attempts, error),) = query(
        database, "SELECT state, attempts, error FROM jobs WHERE id = ?", (job,)
    )
    assert (state, attempts, error) == ("succeeded", 1, None)
    assert cut > 0
    # The cut statement was made again (the restart alone the pool's checks absorb).
    assert "the store did not answer" in out and "the store answers again" in out
    assert "Traceback" not in out
