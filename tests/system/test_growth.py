"""Growing a pet with real engine processes on the tiny SDXL: the pet keeps drawing with its
first model while the growth is queued (or its engine is dead), the growth's success switches
it to the new one, and an engine killed mid-growth loses nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from engine.generation.job import build_request
from engine.settings import Settings
from engine.store import Database, JobKind, jobs, subjects
from tests.engine_env import (
    SHORT_LEASE,
    TINY_PICTURES,
    engine_site,
    petbooth,
    query,
    queue_training,
    sigkill_engine_at,
)
from tests.samples import write_photos

pytestmark = pytest.mark.slow


def next_picture_lora(data: Path, database: Path) -> Path:
    """The LoRA file the newest queued picture job resolves to, as an engine would."""

    async def resolve() -> Path:
        async with await Database.open(database) as db:
            queued = [j for j in await jobs.list_jobs(db) if j.kind is JobKind.GENERATE]
            job = max(queued, key=lambda j: j.id)
            request = await build_request(db, Settings(data_dir=data, _env_file=None), job)
            assert request.lora is not None
            return request.lora

    return asyncio.run(resolve())


def pick_step(database: Path, step: int) -> None:
    """The owner presses "Use step `step`" under a preview of the pet's training."""

    async def pick() -> None:
        async with await Database.open(database) as db:
            [pet] = await subjects.list_for_owner(db, 0)
            await subjects.choose_checkpoint(db, pet.id, step)

    asyncio.run(pick())


def test_a_continued_growth_draws_with_the_old_model_until_it_succeeds(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # Scoring off: its checkpoints' scores are tested elsewhere and cost seconds here.
    site = engine_site(tmp_path, tiny_model_dir, PETBOOTH_SCORING__ENABLED="false", **TINY_PICTURES)
    first = queue_training(
        site.env, write_photos(tmp_path / "photos", 5), steps=2, checkpoint_every=2
    )
    trained = petbooth("engine", "--until-idle", env=site.env)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    [(old_lora,)] = query(site.database, "SELECT lora_path FROM subjects")
    pick_step(site.database, 2)  # the old training's step: not the grown model's

    more = write_photos(tmp_path / "more", 2, first_seed=50)
    grown = petbooth("grow", "thor", *map(str, more), "--owner", "0", env=site.env)
    assert grown.returncode == 0, grown.stderr
    growth = int(grown.stdout)
    # Queued behind nothing but the growth, the picture is still the first model's.
    assert query(site.database, "SELECT status FROM subjects") == [("ready",)]
    drawn = petbooth("imagine", "a photo of TOK cat", "--subject", "thor", env=site.env)
    assert drawn.returncode == 0, drawn.stderr
    meanwhile = next_picture_lora(site.data, site.database)
    assert meanwhile == site.data / "jobs" / str(first) / "checkpoints" / "step-000002"

    ran = petbooth("engine", "--until-idle", env=site.env)
    assert ran.returncode == 0, ran.stdout + ran.stderr

    states = query(site.database, "SELECT kind, state FROM jobs ORDER BY id")
    assert states == [("train", "succeeded"), ("train", "succeeded"), ("generate", "succeeded")]
    [(model_job, status, new_lora)] = query(
        site.database, "SELECT model_job_id, status, lora_path FROM subjects"
    )
    assert (model_job, status) == (growth, "ready") and new_lora != old_lora
    done = {
        job: json.loads(payload)
        for job, payload in query(
            site.database, "SELECT job_id, payload FROM events WHERE kind = 'done'"
        )
    }
    assert done[first].get("grew") is None
    assert done[growth]["grew"] == {"mode": "continue", "from": 5, "to": 7}
    assert done[growth]["steps"] == 1  # half the first training's 2 steps
    assert done[growth]["step_in_use"] == {"step": None, "reason": "final"}
    again = petbooth("imagine", "a photo of TOK cat", "--subject", "thor", env=site.env)
    assert again.returncode == 0, again.stderr
    assert next_picture_lora(site.data, site.database).is_relative_to(site.data / new_lora)


def job_steps(database: Path, kind: str, job: int, after_event: int = 0) -> list[int]:
    """The steps of one job's `kind` events (progress, checkpoint) after event `after_event`."""
    rows = query(
        database,
        "SELECT payload FROM events WHERE kind = ? AND job_id = ? AND id > ? ORDER BY id",
        (kind, job, after_event),
    )
    return [json.loads(payload)["step"] for (payload,) in rows]


def test_a_growth_killed_mid_training_resumes_and_keeps_its_photos_once(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    site = engine_site(
        tmp_path, tiny_model_dir, PETBOOTH_SCORING__ENABLED="false", **SHORT_LEASE, **TINY_PICTURES
    )
    # The growth trains half of 8 steps, checkpointed every 2: step 2's survives the kill.
    queue_training(site.env, write_photos(tmp_path / "photos", 5), steps=8, checkpoint_every=2)
    trained = petbooth("engine", "--until-idle", env=site.env)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    [(old_lora,)] = query(site.database, "SELECT lora_path FROM subjects")
    more = write_photos(tmp_path / "more", 2, first_seed=50)
    grown = petbooth("grow", "thor", *map(str, more), "--owner", "0", env=site.env)
    assert grown.returncode == 0, grown.stderr
    growth = int(grown.stdout)

    sigkill_engine_at(site.env, site.database, "checkpoint", 2)
    checkpoints = job_steps(site.database, "checkpoint", growth)
    assert checkpoints == [2], "the growth finished before its engine was killed; make it longer"
    # While no engine runs, the pet is ready and draws with its first model.
    assert query(site.database, "SELECT status FROM subjects") == [("ready",)]
    drawn = petbooth("imagine", "a photo of TOK cat", "--subject", "thor", env=site.env)
    assert drawn.returncode == 0, drawn.stderr
    assert next_picture_lora(site.data, site.database).is_relative_to(site.data / old_lora)

    ran = petbooth("engine", "--until-idle", env=site.env)
    assert ran.returncode == 0, ran.stdout + ran.stderr

    states = query(site.database, "SELECT kind, state FROM jobs ORDER BY id")
    assert states == [("train", "succeeded"), ("train", "succeeded"), ("generate", "succeeded")]
    [(retry, retrying)] = query(
        site.database, "SELECT id, payload FROM events WHERE kind = 'retrying'"
    )
    assert json.loads(retrying)["attempt"] == 2
    done = {
        job: json.loads(payload)
        for job, payload in query(
            site.database, "SELECT job_id, payload FROM events WHERE kind = 'done'"
        )
    }
    assert done[growth]["resumed_from"] == 2 and done[growth]["steps"] == 4
    assert done[growth]["grew"] == {"mode": "continue", "from": 5, "to": 7}
    # The second engine goes on from the checkpoint, not from step 1.
    assert job_steps(site.database, "progress", growth, after_event=retry) == [3, 4]
    [(model_job, status, new_lora)] = query(
        site.database, "SELECT model_job_id, status, lora_path FROM subjects"
    )
    assert (model_job, status) == (growth, "ready") and new_lora != old_lora
    again = petbooth("imagine", "a photo of TOK cat", "--subject", "thor", env=site.env)
    assert again.returncode == 0, again.stderr
    assert next_picture_lora(site.data, site.database).is_relative_to(site.data / new_lora)
    # Every photo once: the five it was trained on, and the two the growth added.
    photos = query(site.database, "SELECT grown_by_job_id, sha256 FROM photos ORDER BY id")
    assert [job for job, _ in photos] == [None] * 5 + [growth] * 2
    assert len({sha for _, sha in photos}) == 7
