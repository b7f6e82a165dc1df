"""An engine killed with SIGKILL mid-training: the job resumes from its last checkpoint on the
next engine and finishes with a continuous step count (real processes, tiny SDXL)."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from tests.engine_env import (
    SHORT_LEASE,
    engine_env,
    event_rows,
    petbooth,
    queue_training,
    reached,
    start_petbooth,
    wait_until,
)
from tests.samples import write_photos

pytestmark = pytest.mark.slow


def test_sigkilled_engine_resumes_from_checkpoint(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    database = data / "petbooth.sqlite3"
    env = engine_env(data, tiny_model_dir, **SHORT_LEASE)
    photos = write_photos(tmp_path / "photos", 5)
    queue_training(env, photos, steps=8, checkpoint_every=2)

    first = start_petbooth("engine", env=env)
    try:
        wait_until(reached(database, "checkpoint", 4), first, "the checkpoint at step 4")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    killed_at = max(p["step"] for p in event_rows(database, "checkpoint"))
    assert killed_at < 8, "the engine finished before it was killed; make the job longer"

    second = petbooth("engine", "--until-idle", env=env)
    assert second.returncode == 0, second.stdout + second.stderr

    (retry,) = event_rows(database, "retrying")
    assert retry["attempt"] == 2
    (done,) = event_rows(database, "done")
    assert done["steps"] == 8 and done["resumed_from"] == killed_at
    progress = [p["step"] for p in event_rows(database, "progress")]
    # first run: 1..k (k >= killed_at); second run continues at killed_at + 1, never from 1
    restart = progress.index(killed_at + 1, killed_at)
    assert progress[:restart] == list(range(1, restart + 1))
    assert progress[restart:] == list(range(killed_at + 1, 9))
    checkpoints = sorted({p["step"] for p in event_rows(database, "checkpoint")})
    assert checkpoints == [2, 4, 6, 8]


def test_sigterm_checkpoints_the_current_step_and_requeues(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "data"
    database = data / "petbooth.sqlite3"
    env = engine_env(data, tiny_model_dir)
    photos = write_photos(tmp_path / "photos", 5)
    queue_training(env, photos, steps=40, checkpoint_every=100)
    engine = start_petbooth("engine", env=env)
    try:
        wait_until(reached(database, "progress", 3), engine, "step 3")
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=60) == 0
    finally:
        engine.kill()
    with sqlite3.connect(database) as conn:
        state, attempts = conn.execute("SELECT state, attempts FROM jobs").fetchone()
    assert (state, attempts) == ("queued", 0)  # a clean stop is not a failed attempt
    (stopped_at,) = [p["step"] for p in event_rows(database, "checkpoint")]
    assert 3 <= stopped_at < 40  # saved where it stopped, not at a checkpoint interval
    resumed = petbooth("engine", "--until-idle", env=env)
    assert resumed.returncode == 0, resumed.stderr
    (done,) = event_rows(database, "done")
    assert done["resumed_from"] == stopped_at and done["steps"] == 40


def test_corrupt_newest_checkpoint_resumes_from_the_one_before(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "data"
    database = data / "petbooth.sqlite3"
    env = engine_env(data, tiny_model_dir, **SHORT_LEASE)
    job_id = queue_training(env, write_photos(tmp_path / "photos", 5), steps=30, checkpoint_every=2)
    engine = start_petbooth("engine", env=env)
    try:
        wait_until(reached(database, "checkpoint", 4), engine, "the checkpoint at step 4")
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=30)
    checkpoints = data / "jobs" / str(job_id) / "checkpoints"
    newest, previous = sorted(checkpoints.glob("step-*"), reverse=True)[:2]
    weights = newest / "pytorch_lora_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a disk that lost the end of the file

    resumed = petbooth("engine", "--until-idle", env=env)
    assert resumed.returncode == 0, resumed.stderr
    (done,) = event_rows(database, "done")
    assert done["resumed_from"] == int(previous.name.removeprefix("step-"))
    assert done["steps"] == 30
