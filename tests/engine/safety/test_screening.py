"""A `generate` job's pictures are screened before they are published: flagged ones are
deleted on the engine and counted in the done event; without its model the filter fails
closed; jobs for age-restricted channels and the operator's CLI are not screened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from engine.generation.job import Drawn, GenerationRefusedError, record_done
from engine.generation.request import GenerateRequest
from engine.safety.screening import needs_check
from engine.settings import SafetySettings, Settings
from engine.store import Database, EventKind, Job, JobKind, JobState, events, jobs
from tests.safety_models import flags_everything, flags_nothing

__all__ = ["flags_everything", "flags_nothing"]

GUILD, CHANNEL = 10, 20


def settings_with(tmp_path: Path, model: Path) -> Settings:
    safety = SafetySettings(model=str(model))
    return Settings(data_dir=tmp_path / "data", safety=safety, _env_file=None)


async def drawn_job(db: Database, settings: Settings, **params: Any) -> tuple[Job, Drawn]:
    """A claimed generate job from a Discord channel, and the PNG its engine drew."""
    fields = {"prompt": "a cat", "count": 1, "seed": 1, "steps": 2, "guidance_scale": 5.0}
    fields |= {"width": 64, "height": 64, **params}
    await jobs.enqueue(
        db, JobKind.GENERATE, owner_id=1, params=fields, guild_id=GUILD, channel_id=CHANNEL
    )
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    path = settings.output_dir(job.id) / "image-0.png"
    path.parent.mkdir(parents=True)
    Image.new("RGB", (64, 64), (120, 80, 40)).save(path)
    return job, Drawn([path], None)


async def record(db: Database, settings: Settings, job: Job, drawn: Drawn) -> None:
    request = GenerateRequest.from_params(job.params, lora=None, subject=None)
    await record_done(db, settings, job, "gpu-0", request, drawn)


async def done_event(db: Database, job: Job) -> events.Event:
    [done] = [e for e in await events.for_job(db, job.id) if e.kind is EventKind.DONE]
    return done


async def test_a_flagged_picture_is_deleted_and_counted_not_published(
    tmp_path: Path, flags_everything: Path
) -> None:
    settings = settings_with(tmp_path, flags_everything)
    async with await Database.open(settings.database_path) as db:
        job, drawn = await drawn_job(db, settings, safety_check=True)

        await record(db, settings, job, drawn)

        done = await done_event(db, job)
        finished = await jobs.get(db, job.id)
    assert done.payload["withheld"] == 1 and done.payload["withheld_images"] == [0]
    assert done.payload["images"] == 0 and done.files == []
    assert not drawn.files[0].exists()
    assert finished is not None and finished.state is JobState.SUCCEEDED  # the owner is told


async def test_a_clean_picture_is_published(tmp_path: Path, flags_nothing: Path) -> None:
    settings = settings_with(tmp_path, flags_nothing)
    async with await Database.open(settings.database_path) as db:
        job, drawn = await drawn_job(db, settings, safety_check=True)

        await record(db, settings, job, drawn)

        done = await done_event(db, job)
    assert "withheld" not in done.payload and done.payload["images"] == 1
    assert done.files == [settings.data_relative(drawn.files[0])]


async def test_without_its_model_the_filter_withholds_every_picture(tmp_path: Path) -> None:
    settings = settings_with(tmp_path, tmp_path / "never-downloaded")
    async with await Database.open(settings.database_path) as db:
        job, drawn = await drawn_job(db, settings, safety_check=True)

        with pytest.raises(GenerationRefusedError, match="run `petbooth download-models`"):
            await record(db, settings, job, drawn)

        kinds = [e.kind for e in await events.for_job(db, job.id)]
    assert EventKind.DONE not in kinds  # nothing to post
    assert not drawn.files[0].exists()


async def test_a_job_not_asked_to_be_checked_is_published_as_drawn(
    tmp_path: Path, flags_everything: Path
) -> None:
    settings = settings_with(tmp_path, flags_everything)
    async with await Database.open(settings.database_path) as db:
        job, drawn = await drawn_job(db, settings, safety_check=False)  # age-restricted

        await record(db, settings, job, drawn)

        done = await done_event(db, job)
    assert "withheld" not in done.payload and done.files != []


@pytest.mark.parametrize(
    ("params", "channel_id", "enabled", "checked"),
    [
        ({}, CHANNEL, True, True),  # a Discord order queued before the filter existed
        ({}, None, True, False),  # the operator's `petbooth imagine`
        ({"safety_check": True}, CHANNEL, False, False),  # this engine's operator: off
    ],
)
async def test_which_jobs_are_checked(
    tmp_path: Path, params: dict[str, Any], channel_id: int | None, enabled: bool, checked: bool
) -> None:
    settings = Settings(data_dir=tmp_path, safety=SafetySettings(enabled=enabled), _env_file=None)
    async with await Database.open(settings.database_path) as db:
        job_id = await jobs.enqueue(
            db, JobKind.GENERATE, owner_id=1, params=params, channel_id=channel_id
        )
        job = await jobs.get(db, job_id)
    assert job is not None and needs_check(settings, job) is checked
