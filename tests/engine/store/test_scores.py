"""Checkpoint scores (on both backends), and the recommended step a successful training stores."""

from __future__ import annotations

import pytest

from engine.store import (
    Database,
    EventKind,
    JobKind,
    SubjectStatus,
    endings,
    events,
    jobs,
    scores,
    subjects,
)


@pytest.fixture
async def db(store_target):
    async with await Database.open(store_target) as database:
        yield database


async def running_training(db: Database) -> tuple[int, int]:
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=7, name="thor", class_noun="cat")
        job_id = await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=7, subject_id=pet.id)
    assert await jobs.claim_next(db, "gpu-0", 60) is not None
    return pet.id, job_id


async def record(db: Database, job_id: int, step: int, identity: float) -> None:
    async with db.transaction() as tx:
        await scores.record_tx(tx, job_id, step, identity=identity, clip_image=0.8, clip_text=0.3)


async def test_scores_are_kept_per_checkpoint_in_step_order(db: Database) -> None:
    _, job_id = await running_training(db)
    for step, identity in ((4, 0.7), (2, 0.5)):
        await record(db, job_id, step, identity)

    stored = await scores.for_job(db, job_id)

    assert [(s.step, s.identity, s.clip_image, s.clip_text) for s in stored] == [
        (2, 0.5, 0.8, 0.3),
        (4, 0.7, 0.8, 0.3),
    ]
    assert await scores.get(db, job_id, 4) == stored[1]
    assert await scores.get(db, job_id, 6) is None


async def test_scoring_a_step_again_replaces_its_row(db: Database) -> None:
    _, job_id = await running_training(db)
    await record(db, job_id, 2, 0.5)
    await record(db, job_id, 2, 0.6)
    [only] = await scores.for_job(db, job_id)
    assert only.identity == 0.6


async def test_the_latest_training_is_where_a_pets_scores_come_from(db: Database) -> None:
    pet_id, job_id = await running_training(db)
    async with db.transaction() as tx:  # a picture job of the same pet comes later
        await jobs.enqueue_tx(tx, JobKind.GENERATE, owner_id=7, subject_id=pet_id)
    assert await scores.latest_training(db, pet_id) == job_id
    assert await scores.latest_training(db, pet_id + 1) is None


async def test_success_stores_the_recommended_step_with_the_pet(db: Database) -> None:
    pet_id, job_id = await running_training(db)
    before = await subjects.get(db, pet_id)
    assert before is not None and before.recommended_step is None  # the migration's default

    assert await endings.succeed(
        db, job_id, "gpu-0", {"steps": 4}, lora_path="jobs/1/lora", recommended_step=2
    )

    ready = await subjects.get(db, pet_id)
    assert ready is not None and ready.status is SubjectStatus.READY
    assert ready.recommended_step == 2


async def test_a_training_without_scores_recommends_the_final_step(db: Database) -> None:
    pet_id, job_id = await running_training(db)
    assert await endings.succeed(db, job_id, "gpu-0", {}, lora_path="jobs/1/lora")
    ready = await subjects.get(db, pet_id)
    assert ready is not None and ready.recommended_step is None


async def test_a_preview_event_per_step_is_found(db: Database) -> None:
    _, job_id = await running_training(db)
    await events.append_event(db, job_id, EventKind.PREVIEW, {"step": 2})
    async with db.transaction() as tx:
        assert await events.has_step_event_tx(tx, job_id, EventKind.PREVIEW, 2)
        assert not await events.has_step_event_tx(tx, job_id, EventKind.PREVIEW, 4)
        assert not await events.has_step_event_tx(tx, job_id, EventKind.CHECKPOINT, 2)


async def test_a_deleted_pet_takes_its_scores_with_it(db: Database) -> None:
    pet_id, job_id = await running_training(db)
    await record(db, job_id, 2, 0.5)
    await subjects.delete(db, pet_id)
    assert await scores.for_job(db, job_id) == []
