"""Every way a job ends writes the job's state, its event and its pet's status together."""

from __future__ import annotations

import pytest

from engine.store import (
    Database,
    EventKind,
    JobKind,
    JobState,
    Subject,
    SubjectStatus,
    endings,
    events,
    jobs,
    subjects,
)

LEASE = 30.0


@pytest.fixture
async def db(store_target):
    moment = {"now": 1_000_000.0}
    database = await Database.open(store_target, clock=lambda: moment["now"])
    database.moment = moment  # type: ignore[attr-defined]  # the tests move the clock
    yield database
    await database.close()


def later(db: Database, seconds: float) -> None:
    db.moment["now"] += seconds  # type: ignore[attr-defined]


async def training(db: Database, *, max_attempts: int = 3) -> tuple[Subject, int]:
    """A pet with a queued training, as enrolment leaves them."""
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=7, name="thor", class_noun="cat")
        job_id = await jobs.enqueue_tx(
            tx, JobKind.TRAIN, owner_id=7, subject_id=pet.id, max_attempts=max_attempts
        )
    return pet, job_id


async def claimed(db: Database, engine_id: str, job_id: int) -> None:
    job = await jobs.claim_next(db, engine_id, LEASE)
    assert job is not None and job.id == job_id
    await subjects.set_status(db, job.subject_id or 0, SubjectStatus.TRAINING)


async def state_of(db: Database, job_id: int, pet: Subject) -> tuple[JobState, SubjectStatus]:
    job, now = await jobs.get(db, job_id), await subjects.get(db, pet.id)
    assert job is not None and now is not None
    return job.state, now.status


async def last_event(db: Database, job_id: int) -> EventKind:
    return (await events.for_job(db, job_id))[-1].kind


async def test_a_training_whose_engine_keeps_dying_fails_its_pet_too(db: Database) -> None:
    """The lease-expiry path used to fail the job and leave its pet "training" forever."""
    pet, job_id = await training(db, max_attempts=2)
    await claimed(db, "engine-a", job_id)
    later(db, LEASE + 1)  # engine-a died; its lease runs out
    await jobs.requeue_expired(db)
    await claimed(db, "engine-b", job_id)  # attempt 2 of 2
    later(db, LEASE + 1)  # engine-b died too

    assert await jobs.requeue_expired(db) == 1  # the reaper fails it
    assert await jobs.claim_next(db, "engine-c", LEASE) is None

    assert await state_of(db, job_id, pet) == (JobState.FAILED, SubjectStatus.FAILED)
    failed = (await events.for_job(db, job_id, EventKind.FAILED))[0]
    assert failed.payload == {"error": "The engine stopped 2 times while running this job."}


async def test_success_makes_the_pet_ready_with_its_model_and_says_done(db: Database) -> None:
    pet, job_id = await training(db)
    await claimed(db, "engine-a", job_id)

    assert await endings.succeed(db, job_id, "engine-a", {"steps": 5}, ["a.png"], lora_path="l")

    assert await state_of(db, job_id, pet) == (JobState.SUCCEEDED, SubjectStatus.READY)
    ready = await subjects.get(db, pet.id)
    assert ready is not None and ready.lora_path == "l"
    done = (await events.for_job(db, job_id))[-1]
    assert (done.kind, done.payload, done.files) == (EventKind.DONE, {"steps": 5}, ["a.png"])


async def test_an_engine_that_lost_the_job_ends_nothing(db: Database) -> None:
    pet, job_id = await training(db)
    await claimed(db, "engine-a", job_id)
    later(db, LEASE + 1)
    await jobs.requeue_expired(db)
    await claimed(db, "engine-b", job_id)  # engine-a was presumed dead; it was only slow
    before = await events.for_job(db, job_id)

    assert not await endings.succeed(db, job_id, "engine-a", {}, lora_path="stale")
    assert not await endings.fail(db, job_id, "engine-a", "late")
    assert not await endings.cancel_running(db, job_id, "engine-a", step=1)
    assert not await endings.release(db, job_id, "engine-a")

    assert await state_of(db, job_id, pet) == (JobState.RUNNING, SubjectStatus.TRAINING)
    assert await events.for_job(db, job_id) == before


async def fail_running(db: Database, job_id: int) -> object:
    await claimed(db, "engine-a", job_id)
    return await endings.fail(db, job_id, "engine-a", "The engine ran out of disk space.")


async def cancel_queued(db: Database, job_id: int) -> object:
    return await jobs.cancel(db, job_id) is JobState.CANCELLED


@pytest.mark.parametrize(
    ("end", "state", "event"),
    [
        (fail_running, JobState.FAILED, EventKind.FAILED),
        (cancel_queued, JobState.CANCELLED, EventKind.CANCELLED),
    ],
    ids=["failed while running", "cancelled while queued"],
)
async def test_a_training_that_fails_or_is_cancelled_fails_its_pet(
    db: Database, end, state: JobState, event: EventKind
) -> None:
    pet, job_id = await training(db)

    assert await end(db, job_id)

    assert await state_of(db, job_id, pet) == (state, SubjectStatus.FAILED)
    assert await last_event(db, job_id) is event


async def test_a_cancelled_running_training_fails_the_pet(db: Database) -> None:
    pet, job_id = await training(db)
    await claimed(db, "engine-a", job_id)

    assert await endings.cancel_running(db, job_id, "engine-a", step=3)

    assert await state_of(db, job_id, pet) == (JobState.CANCELLED, SubjectStatus.FAILED)
    cancelled = (await events.for_job(db, job_id))[-1]
    assert (cancelled.kind, cancelled.payload) == (EventKind.CANCELLED, {"step": 3})


async def test_release_queues_the_job_again_without_spending_an_attempt(db: Database) -> None:
    pet, job_id = await training(db)
    await claimed(db, "engine-a", job_id)

    assert await endings.release(db, job_id, "engine-a", step=40) is JobState.QUEUED

    job = await jobs.get(db, job_id)
    assert job is not None and (job.state, job.attempts, job.engine_id) == (
        JobState.QUEUED,
        0,
        None,
    )
    assert (await subjects.get(db, pet.id)).status is SubjectStatus.PENDING  # type: ignore[union-attr]
    queued = (await events.for_job(db, job_id))[-1]
    assert (queued.kind, queued.payload) == (EventKind.QUEUED, {"step": 40})


async def test_a_picture_job_ending_leaves_its_pet_alone(db: Database) -> None:
    pet, train_id = await training(db)
    await claimed(db, "engine-a", train_id)
    assert await endings.succeed(db, train_id, "engine-a", {}, lora_path="l")
    picture = await jobs.enqueue(db, JobKind.GENERATE, owner_id=7, subject_id=pet.id)
    assert (await jobs.claim_next(db, "engine-a", LEASE)) is not None

    assert await endings.fail(db, picture, "engine-a", "Drawing failed.")

    assert await state_of(db, picture, pet) == (JobState.FAILED, SubjectStatus.READY)


async def test_a_cancelled_job_whose_engine_died_ends_cancelled_not_queued(db: Database) -> None:
    pet, job_id = await training(db)
    await claimed(db, "engine-a", job_id)
    assert await jobs.cancel(db, job_id) is JobState.RUNNING  # asked; engine-a then died
    later(db, LEASE + 1)

    assert await jobs.requeue_expired(db) == 1

    assert await state_of(db, job_id, pet) == (JobState.CANCELLED, SubjectStatus.FAILED)
    assert await jobs.claim_next(db, "engine-b", LEASE) is None  # not started again
    cancelled = (await events.for_job(db, job_id))[-1]
    assert (cancelled.kind, cancelled.payload) == (EventKind.CANCELLED, {"step": 0})


async def test_a_job_cancelled_during_a_shutdown_ends_cancelled_not_queued(db: Database) -> None:
    pet, job_id = await training(db)
    await claimed(db, "engine-a", job_id)
    assert await jobs.cancel(db, job_id) is JobState.RUNNING  # as the engine stops for SIGTERM

    assert await endings.release(db, job_id, "engine-a", step=40) is JobState.CANCELLED

    assert await state_of(db, job_id, pet) == (JobState.CANCELLED, SubjectStatus.FAILED)
    cancelled = (await events.for_job(db, job_id))[-1]
    assert (cancelled.kind, cancelled.payload) == (EventKind.CANCELLED, {"step": 40})
