"""Growing a ready pet: new photos and a queued training, the old model kept until it wins;
every refusal says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.intake import Upload
from engine.orders.enrolment import EnrollmentRefused, TrainingOrder, enrol_subject
from engine.orders.growth import Growth, GrowthMode, GrowthOrder, grow_subject
from engine.settings import Settings
from engine.store import Database, Subject, SubjectStatus, endings, jobs, subjects
from tests.samples import jpeg


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", min_photo_side=64, max_photos=8, _env_file=None)


def uploads(count: int, first_seed: int = 0) -> list[Upload]:
    return [Upload(f"cat{i}.jpg", jpeg(first_seed + i, (128, 128))) for i in range(count)]


async def ready_pet(db: Database, settings: Settings, rank: int = 4) -> Subject:
    """thor, enrolled with 5 photos and trained: its model of `rank` in jobs/<id>/lora."""
    order = TrainingOrder(7, "thor", "cat", overrides={"steps": 40, "rank": rank})
    enrolled = await enrol_subject(db, settings, order, uploads(5))
    assert await jobs.claim_next(db, "w", 30) is not None
    lora = settings.job_dir(enrolled.job_id) / "lora"
    lora.mkdir(parents=True)
    (lora / "petbooth.json").write_text(json.dumps({"rank": rank}))
    await endings.succeed(db, enrolled.job_id, "w", {}, lora_path=settings.data_relative(lora))
    subject = await subjects.get(db, enrolled.subject.id)
    assert subject is not None and subject.model_job_id == enrolled.job_id
    return subject


async def test_continue_queues_half_the_steps_and_the_pet_stays_ready(
    db: Database, settings: Settings
) -> None:
    pet = await ready_pet(db, settings)
    grown = await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(2, 10))
    job = await jobs.get(db, grown.job_id)
    assert job is not None and job.total_steps == 20 and job.params["rank"] == 4
    growth = Growth.from_params(job.params)
    assert growth is not None and (growth.photos_before, growth.photos_after) == (5, 7)
    assert growth.init_lora == f"{pet.lora_path}/pytorch_lora_weights.safetensors"
    after = await subjects.get(db, pet.id)
    assert after is not None and after.status is SubjectStatus.READY
    assert after.model_job_id == pet.model_job_id
    assert len(await subjects.photos(db, pet.id)) == 7
    assert grown.contact_sheet.is_file()


async def test_a_failed_growth_keeps_the_old_model_and_drops_its_photos(
    db: Database, settings: Settings
) -> None:
    pet = await ready_pet(db, settings)
    grown = await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(2, 10))
    assert await jobs.claim_next(db, "w", 30) is not None
    await endings.fail(db, grown.job_id, "w", "out of luck")
    after = await subjects.get(db, pet.id)
    assert after is not None and after.status is SubjectStatus.READY
    assert (after.model_job_id, after.lora_path) == (pet.model_job_id, pet.lora_path)
    assert len(await subjects.photos(db, pet.id)) == 5


async def test_a_successful_growth_switches_models_and_forgets_the_old_pick(
    db: Database, settings: Settings
) -> None:
    pet = await ready_pet(db, settings)
    await subjects.choose_checkpoint(db, pet.id, 20)  # a step of the OLD training
    grown = await grow_subject(
        db, settings, GrowthOrder(7, "thor", GrowthMode.FRESH), uploads(1, 10)
    )
    assert await jobs.claim_next(db, "w", 30) is not None
    await endings.succeed(db, grown.job_id, "w", {}, lora_path="jobs/new/lora")
    after = await subjects.get(db, pet.id)
    assert after is not None and after.model_job_id == grown.job_id
    assert after.lora_path == "jobs/new/lora" and after.chosen_step is None


async def test_refuses_unknown_pets_and_pets_still_in_their_first_training(
    db: Database, settings: Settings
) -> None:
    with pytest.raises(EnrollmentRefused, match="no pet named 'rex'"):
        await grow_subject(db, settings, GrowthOrder(7, "rex"), uploads(1))
    await enrol_subject(db, settings, TrainingOrder(7, "thor", "cat"), uploads(5))
    with pytest.raises(EnrollmentRefused, match="still in its first training"):
        await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(1, 10))


async def test_refuses_a_second_growth_while_one_is_queued(
    db: Database, settings: Settings
) -> None:
    await ready_pet(db, settings)
    await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(1, 10))
    with pytest.raises(EnrollmentRefused, match="already have a training in progress"):
        await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(1, 20))


async def test_one_growth_of_a_pet_at_a_time_even_where_owners_may_train_two(
    db: Database, settings: Settings
) -> None:
    generous = settings.model_copy(update={"max_active_trainings_per_user": 2})
    await ready_pet(db, generous)
    grown = await grow_subject(db, generous, GrowthOrder(7, "thor"), uploads(1, 10))
    with pytest.raises(
        EnrollmentRefused, match=f"thor is already growing \\(job {grown.job_id}\\)"
    ):
        await grow_subject(db, generous, GrowthOrder(7, "thor"), uploads(1, 20))


async def test_photos_it_has_are_skipped_and_only_those_are_refused(
    db: Database, settings: Settings
) -> None:
    await ready_pet(db, settings)
    with pytest.raises(EnrollmentRefused, match="None of these photos is new"):
        await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(2))
    grown = await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(2, 4))  # 4 known
    assert [p.source_name for p in grown.intake.accepted] == ["cat1.jpg"]
    assert "already one of its photos" in grown.intake.rejected[0].reason


async def test_refuses_more_photos_than_a_pet_may_have(db: Database, settings: Settings) -> None:
    await ready_pet(db, settings)  # 5 of at most 8
    with pytest.raises(EnrollmentRefused, match="Send at most 3"):
        await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(4, 10))


async def test_continue_refuses_a_model_of_another_rank_and_fresh_does_not(
    db: Database, settings: Settings
) -> None:
    pet = await ready_pet(db, settings)
    assert pet.lora_path is not None
    about = settings.data_dir / pet.lora_path / "petbooth.json"
    about.write_text(json.dumps({"rank": 8}))  # as if the operator's default changed since
    with pytest.raises(EnrollmentRefused, match=r"has rank 8 .* `mode: fresh`"):
        await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(1, 10))
    order = GrowthOrder(7, "thor", GrowthMode.FRESH)
    assert (await grow_subject(db, settings, order, uploads(1, 10))).growth.init_lora is None


async def test_a_second_continued_growth_takes_half_the_first_training_not_of_the_last(
    db: Database, settings: Settings
) -> None:
    await ready_pet(db, settings)  # 40 steps
    first = await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(1, 10))
    assert await jobs.claim_next(db, "w", 30) is not None
    await endings.succeed(db, first.job_id, "w", {}, lora_path="jobs/first-growth/lora")

    second = await grow_subject(db, settings, GrowthOrder(7, "thor"), uploads(1, 20))

    assert (first.config.steps, second.config.steps) == (20, 20)
