"""Photos in, subject + photos + queued job out, in one transaction; refusals explain."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.intake import Upload
from engine.orders.enrolment import EnrollmentRefused, TrainingOrder, enrol_subject
from engine.settings import Settings
from engine.store import Database, JobKind, JobState, endings, jobs, subjects
from tests.samples import jpeg


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", min_photo_side=64, _env_file=None)


def uploads(count: int, first_seed: int = 0) -> list[Upload]:
    return [Upload(f"cat{i}.jpg", jpeg(first_seed + i, (128, 128))) for i in range(count)]


async def test_enrols_subject_photos_and_job_together(db: Database, settings: Settings) -> None:
    order = TrainingOrder(
        owner_id=7, name="Thor", class_noun="Cat", channel_id=99, overrides={"steps": 50}
    )
    enrolled = await enrol_subject(db, settings, order, uploads(6))
    assert enrolled.subject.name == "thor" and enrolled.subject.class_noun == "cat"
    assert enrolled.contact_sheet.is_file()
    photos = await subjects.photos(db, enrolled.subject.id)
    assert len(photos) == 6
    assert all((settings.data_dir / p.path).is_file() for p in photos)
    assert all(Path(p.path).name.startswith("photo-") for p in photos)
    job = await jobs.get(db, enrolled.job_id)
    assert job is not None and job.kind is JobKind.TRAIN and job.state is JobState.QUEUED
    assert job.total_steps == 50 and job.channel_id == 99 and job.subject_id == enrolled.subject.id
    assert enrolled.intake.warnings  # 6 photos: fewer than the recommended 10


async def test_refuses_second_training_while_one_is_active(
    db: Database, settings: Settings
) -> None:
    await enrol_subject(db, settings, TrainingOrder(7, "thor", "cat"), uploads(5))
    with pytest.raises(EnrollmentRefused, match="already have a training in progress"):
        await enrol_subject(db, settings, TrainingOrder(7, "loki", "cat"), uploads(5, 10))
    # another user is not affected
    await enrol_subject(db, settings, TrainingOrder(8, "loki", "cat"), uploads(5, 10))


async def test_refuses_duplicate_name(db: Database, settings: Settings) -> None:
    first = await enrol_subject(db, settings, TrainingOrder(7, "thor", "cat"), uploads(5))
    claimed = await jobs.claim_next(db, "w", 30)
    assert claimed is not None
    await endings.succeed(db, first.job_id, "w", {})
    with pytest.raises(EnrollmentRefused, match="already have a pet named 'thor'"):
        await enrol_subject(db, settings, TrainingOrder(7, "THOR", "cat"), uploads(5, 10))


async def test_collects_every_problem_with_the_order(db: Database, settings: Settings) -> None:
    order = TrainingOrder(7, "../etc", "cat; rm -rf", overrides={"steps": 0, "bogus": 1})
    with pytest.raises(EnrollmentRefused) as refused:
        await enrol_subject(db, settings, order, uploads(5))
    text = " ".join(refused.value.reasons)
    assert "The name contains" in text and "Class must be" in text and "bogus" in text
    order = TrainingOrder(7, "thor", "cat", overrides={"steps": 0, "resolution": 10})
    with pytest.raises(EnrollmentRefused) as refused:
        await enrol_subject(db, settings, order, uploads(5))
    assert len(refused.value.reasons) == 2  # both bad numbers reported at once


async def test_too_few_photos_leaves_nothing_behind(db: Database, settings: Settings) -> None:
    bad = [*uploads(3), Upload("notes.jpg", b"not a picture")]
    with pytest.raises(EnrollmentRefused) as refused:
        await enrol_subject(db, settings, TrainingOrder(7, "thor", "cat"), bad)
    assert "at least 5" in refused.value.reasons[0]
    assert refused.value.intake is not None and refused.value.intake.rejected
    assert await subjects.list_for_owner(db, 7) == []
    assert await jobs.list_jobs(db) == []
    assert not (settings.data_dir / "subjects").exists() or not any(
        (settings.data_dir / "subjects").iterdir()
    )


async def test_two_processes_racing_queue_only_one_training(
    settings: Settings, store_target: Path | str
) -> None:
    # Two connections stand for two bot/CLI processes: both pass the early check while
    # their photos validate; the check under the write lock (PostgreSQL: the owner's
    # advisory lock) lets only one through.
    first = await Database.open(store_target)
    second = await Database.open(store_target)
    try:
        results = await asyncio.gather(
            enrol_subject(first, settings, TrainingOrder(7, "thor", "cat"), uploads(5)),
            enrol_subject(second, settings, TrainingOrder(7, "loki", "cat"), uploads(5, 10)),
            return_exceptions=True,
        )
    finally:
        await first.close()
        await second.close()
    refused = [r for r in results if isinstance(r, EnrollmentRefused)]
    assert len(refused) == 1 and "already have a training" in refused[0].reasons[0]
    assert len(list((settings.data_dir / "subjects").iterdir())) == 1  # loser's files removed
