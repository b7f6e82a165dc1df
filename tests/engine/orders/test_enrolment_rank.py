"""/train refuses a rank the generation slot cannot hold before anything is queued: such a
LoRA would train to the end and then be refused by every /imagine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.intake import Upload
from engine.orders.enrolment import EnrollmentRefused, TrainingOrder, enrol_subject
from engine.settings import Settings
from engine.store import Database, jobs, subjects
from tests.samples import jpeg


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", min_photo_side=64, _env_file=None)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True)
    async with await Database.open(settings.database_path) as database:
        yield database


def uploads() -> list[Upload]:
    return [Upload(f"cat{i}.jpg", jpeg(i, (128, 128))) for i in range(5)]


async def test_a_rank_above_the_slot_is_refused_and_nothing_is_queued(
    db: Database, settings: Settings
) -> None:
    assert settings.generation.lora_slot_rank == 32
    order = TrainingOrder(7, "thor", "cat", overrides={"rank": 64})

    with pytest.raises(EnrollmentRefused) as refused:
        await enrol_subject(db, settings, order, uploads())

    assert refused.value.reasons == [
        "Rank 64 is more than this bot can draw with (at most 32): pick a rank of 32 or less."
    ]
    assert await jobs.list_jobs(db) == []
    assert await subjects.by_name(db, 7, "thor") is None
    assert not (settings.data_dir / "subjects").exists()  # no photos written either


async def test_the_slot_rank_itself_is_accepted(db: Database, settings: Settings) -> None:
    order = TrainingOrder(7, "thor", "cat", overrides={"rank": 32})

    enrolled = await enrol_subject(db, settings, order, uploads())

    assert enrolled.config.rank == 32
    job = await jobs.get(db, enrolled.job_id)
    assert job is not None and job.params["rank"] == 32


def test_the_limit_follows_the_configured_slot_rank(settings: Settings) -> None:
    order = TrainingOrder(7, "thor", "cat", overrides={"rank": 16})

    assert order.problems(settings.training, slot_rank=16) == []
    assert order.problems(settings.training, slot_rank=8) == [
        "Rank 16 is more than this bot can draw with (at most 8): pick a rank of 8 or less."
    ]


def test_a_default_rank_above_the_slot_points_at_the_operator(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, training={"rank": 64}, _env_file=None)

    [problem] = TrainingOrder(7, "thor", "cat").problems(
        settings.training, settings.generation.lora_slot_rank
    )

    assert problem.startswith("This bot's default rank 64 is more than it can draw with")
    assert "PETBOOTH_TRAINING__RANK" in problem and "PETBOOTH_GENERATION__LORA_SLOT_RANK" in problem
