"""Fault suite, engine side: an unwritable job folder fails that job in words and nothing
else; generation is served while a training runs (real processes, tiny SDXL)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.engine_env import (
    TINY_PICTURES,
    engine_site,
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
    data, database, env = engine_site(tmp_path, tiny_model_dir)
    photos = write_photos(tmp_path / "photos", 5)
    broken = queue_training(env, photos, steps=4, checkpoint_every=5, owner=1)
    healthy = queue_training(env, photos, steps=4, checkpoint_every=5, name="loki", owner=2)
    (data / "jobs").mkdir(parents=True)
    (data / "jobs" / str(broken)).write_text("a file where the job folder should be")

    ran = petbooth("engine", "--until-idle", env=env)
    assert ran.returncode == 0, ran.stderr
    states = job_rows(database)
    assert states[healthy][0] == "succeeded"
    assert states[broken][0] == "failed"
    assert "cannot write to its data directory" in (states[broken][1] or "")
    (failed,) = event_rows(database, "failed")
    assert "petbooth doctor" in failed["error"]
    assert "Traceback" not in ran.stderr  # said in words, not as a stack trace


@pytest.mark.slow
def test_generation_is_served_while_a_training_runs(tmp_path: Path, tiny_model_dir: Path) -> None:
    _, database, env = engine_site(tmp_path, tiny_model_dir, **TINY_PICTURES)
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
