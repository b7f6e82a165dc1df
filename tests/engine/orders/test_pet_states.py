"""One word per state: a pet waiting for its training reads "queued", as its job does; a
pet that cannot draw yet is named with what its training is doing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.intake import Upload
from engine.orders.enrolment import TrainingOrder, enrol_subject
from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine
from engine.orders.liveness import FRESH_HEARTBEATS, live_engines
from engine.orders.pet_states import pet_state
from engine.orders.status import build_status
from engine.settings import Settings
from engine.store import Database, SubjectStatus, endings, engines, jobs
from tests.samples import jpeg


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", min_photo_side=64, _env_file=None)


async def enrol_thor(db: Database, settings: Settings) -> int:
    photos = [Upload(f"cat{i}.jpg", jpeg(i, (128, 128))) for i in range(5)]
    enrolled = await enrol_subject(db, settings, TrainingOrder(7, "thor", "cat"), photos)
    return enrolled.job_id


async def refusal(db: Database, settings: Settings, **fields: object) -> str:
    with pytest.raises(ImagineRefused) as refused:
        await enqueue_imagine(db, settings, ImagineOrder(7, "a photo of TOK cat", **fields))
    [reason] = refused.value.reasons
    return reason


def test_every_stored_pet_status_has_a_word_and_pending_reads_queued() -> None:
    assert {status: pet_state(status) for status in SubjectStatus} == {
        SubjectStatus.PENDING: "queued",
        SubjectStatus.TRAINING: "training",
        SubjectStatus.READY: "ready",
        SubjectStatus.FAILED: "failed",
    }
    assert pet_state("pending") == "queued"


async def test_status_shows_a_waiting_pet_as_queued_like_its_job(
    db: Database, settings: Settings
) -> None:
    await enrol_thor(db, settings)

    report = await build_status(db, owner_id=7)

    assert [s["status"] for s in report.subjects] == ["queued"]
    assert [line.state for line in report.jobs] == ["queued"]


async def test_only_a_fresh_heartbeat_is_a_live_engine(db: Database, settings: Settings) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)
    await engines.beat(db, "gpu-1", pid=2, device="cuda:1", job_id=None)
    silent_for = FRESH_HEARTBEATS * settings.heartbeat_seconds + 1
    await db.execute(
        "UPDATE engines SET heartbeat_at = ? WHERE engine_id = 'gpu-1'", (db.now() - silent_for,)
    )

    assert [e.engine_id for e in await live_engines(db, settings)] == ["gpu-0"]


async def test_tok_right_after_train_names_the_pet_as_queued(
    db: Database, settings: Settings
) -> None:
    await enrol_thor(db, settings)

    assert await refusal(db, settings) == (
        "thor is queued for training, but no engine is running right now: its training "
        "starts when one does. /status shows its progress."
    )
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)
    assert (await refusal(db, settings, subject_name="Thor")).startswith(
        "thor is queued for training (#1 in the queue, ready in about "
    )


async def claimed_thor(db: Database, settings: Settings) -> int:
    """thor's training, claimed by the engine "gpu-0"."""
    job_id = await enrol_thor(db, settings)
    assert await jobs.claim_next(db, "gpu-0", 60) is not None
    return job_id


async def test_tok_while_training_names_the_step_and_time_left(
    db: Database, settings: Settings
) -> None:
    job_id = await claimed_thor(db, settings)
    async with db.transaction() as tx:
        await jobs.record_progress_tx(tx, job_id, 120, 500, 0.6)
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=job_id)

    assert await refusal(db, settings) == (
        "thor is still training (step 120/500, about 4 min left): /status shows its progress."
    )


async def test_tok_after_a_failed_training_says_to_train_again(
    db: Database, settings: Settings
) -> None:
    job_id = await claimed_thor(db, settings)
    await endings.fail(db, job_id, "gpu-0", "out of memory")

    assert await refusal(db, settings) == (
        "thor has no model: its training did not finish. `/forget` it, then /train it again."
    )


async def test_tok_without_any_pet_says_to_train_first(db: Database, settings: Settings) -> None:
    assert await refusal(db, settings) == (
        "Your prompt uses TOK, but you have no trained pet yet. Start with /train."
    )
