"""Scored training with real engine processes on the tiny SDXL and tiny scorers: every
checkpoint is scored, the recommended step is a kept checkpoint, it is in SQLite for the
next engine, and a pet trained with scoring off still draws (from its final step)."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path

import pytest

from engine.generation.job import build_request
from engine.orders.lora_files import LORA_WEIGHTS
from engine.settings import Settings
from engine.store import Database, JobKind, jobs
from tests.engine_env import engine_env, event_rows, petbooth, queue_training
from tests.samples import write_photos

pytestmark = pytest.mark.slow
SMALL_PICTURES = {"PETBOOTH_GENERATION__RESOLUTION": "64", "PETBOOTH_GENERATION__STEPS": "2"}


def rows(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as conn:
        return conn.execute(sql).fetchall()


def lora_of_next_picture(data: Path, database: Path) -> str:
    """The LoRA directory the queued picture job resolves to, as an engine would."""

    async def resolve() -> str:
        async with await Database.open(database) as db:
            [job] = [j for j in await jobs.list_jobs(db) if j.kind is JobKind.GENERATE]
            request = await build_request(db, Settings(data_dir=data, _env_file=None), job)
            assert request.lora is not None
            return request.lora.name

    return asyncio.run(resolve())


def test_every_checkpoint_is_scored_and_the_pet_uses_the_recommended_one(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "data"
    database = data / "petbooth.sqlite3"
    env = engine_env(
        data, tiny_model_dir, PETBOOTH_TRAINING__KEEP_CHECKPOINTS="1", **SMALL_PICTURES
    )
    job_id = queue_training(env, write_photos(tmp_path / "photos", 5), steps=4, checkpoint_every=1)

    trained = petbooth("engine", "--until-idle", env=env)
    assert trained.returncode == 0, trained.stdout + trained.stderr

    scored = rows(database, "SELECT step, identity, clip_image, clip_text FROM checkpoint_scores")
    assert [row[0] for row in scored] == [1, 2, 3, 4]
    assert all(math.isfinite(v) and -1 <= v <= 1 for row in scored for v in row[1:])
    previews = event_rows(database, "preview")
    assert [(p["step"], p["scores"]["identity"]) for p in previews] == [
        (step, round(identity, 4)) for step, identity, _, _ in scored
    ]
    [(recommended,)] = rows(database, "SELECT recommended_step FROM subjects")
    weights = data / "jobs" / str(job_id) / "checkpoints" / f"step-{recommended:06d}"
    assert (weights / LORA_WEIGHTS).is_file(), "the recommendation must be a kept checkpoint"
    [done] = event_rows(database, "done")
    assert done["recommended_step"] == recommended
    assert done["step_in_use"] == {"step": recommended, "reason": "recommended"}
    [(files,)] = rows(database, "SELECT files FROM events WHERE kind = 'done'")
    assert f"jobs/{job_id}/scores.png" in json.loads(files)

    # A new process reads it back: the command line, then the next engine's picture job.
    shown = petbooth("eval", "thor", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["recommended_step"] == recommended
    queued = petbooth("imagine", "a photo of TOK cat", "--subject", "thor", env=env)
    assert queued.returncode == 0, queued.stderr
    assert lora_of_next_picture(data, database) == f"step-{recommended:06d}"
    drawn = petbooth("engine", "--until-idle", env=env)
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    assert len(event_rows(database, "done")) == 2


def test_a_pet_trained_with_scoring_off_draws_from_its_final_step(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "data"
    database = data / "petbooth.sqlite3"
    env = engine_env(data, tiny_model_dir, PETBOOTH_SCORING__ENABLED="false", **SMALL_PICTURES)
    queue_training(env, write_photos(tmp_path / "photos", 5), steps=2, checkpoint_every=1)

    trained = petbooth("engine", "--until-idle", env=env)
    assert trained.returncode == 0, trained.stdout + trained.stderr

    assert rows(database, "SELECT * FROM checkpoint_scores") == []
    assert all("scores" not in p for p in event_rows(database, "preview"))
    assert rows(database, "SELECT recommended_step FROM subjects") == [(None,)]
    [done] = event_rows(database, "done")
    assert done["step_in_use"] == {"step": None, "reason": "final"}

    queued = petbooth("imagine", "a photo of TOK cat", "--subject", "thor", env=env)
    assert queued.returncode == 0, queued.stderr
    assert lora_of_next_picture(data, database) == "lora"
    drawn = petbooth("engine", "--until-idle", env=env)
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    assert len(event_rows(database, "done")) == 2
