"""SIGTERM and /cancel stop a picture within moments, not when it is done: the engine looks
for a cancel every second and the pipeline stops within one denoising step (real engine
process, tiny SDXL at a size where one picture takes tens of seconds)."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from engine.store import JobState
from tests.engine_env import engine_site, event_rows, petbooth, start_petbooth, wait_until

pytestmark = pytest.mark.slow

SLOW_PICTURE = {"PETBOOTH_GENERATION__RESOLUTION": "128", "PETBOOTH_GENERATION__STEPS": "100"}
PROMPT_STOP_SECONDS = 8.0  # a look for the cancel (1 s), the step under way, one decode


def state(database: Path, job_id: int) -> str:
    with sqlite3.connect(database) as conn:
        return str(conn.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()[0])


def drawing(tmp_path: Path, model: Path):
    """An engine a few seconds into a 100-step 128 px picture: (engine, database, job id)."""
    _, database, env = engine_site(tmp_path, model, **SLOW_PICTURE)
    queued = petbooth("imagine", "a photo of a cat", env=env)
    assert queued.returncode == 0, queued.stderr
    engine = start_petbooth("engine", env=env)
    wait_until(lambda: event_rows(database, "started"), engine, "the picture to start")
    time.sleep(3.0)  # well into the denoising loop (the pipeline loads first)
    return engine, database, int(queued.stdout)


def test_sigterm_mid_picture_hands_it_back_within_moments(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    engine, database, job_id = drawing(tmp_path, tiny_model_dir)

    asked = time.monotonic()
    engine.send_signal(signal.SIGTERM)
    engine.wait(timeout=60)

    assert time.monotonic() - asked < PROMPT_STOP_SECONDS
    assert state(database, job_id) == JobState.QUEUED.value  # drawn again by the next engine


def test_cancel_mid_picture_ends_it_within_moments(tmp_path: Path, tiny_model_dir: Path) -> None:
    engine, database, job_id = drawing(tmp_path, tiny_model_dir)
    try:
        asked = time.monotonic()
        with sqlite3.connect(database) as conn:  # what /cancel does to a running job
            conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
        wait_until(
            lambda: state(database, job_id) == JobState.CANCELLED.value, engine, "the cancel"
        )
        assert time.monotonic() - asked < PROMPT_STOP_SECONDS
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=60)
