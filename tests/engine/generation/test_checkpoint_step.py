"""Which LoRA a picture job loads: the step its order named, else the owner's pick, else the
recommended step, else the final model (torch-free: `build_request` only finds the files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.generation.job import GenerationRefusedError, build_request
from engine.orders.lora_files import LORA_WEIGHTS
from engine.settings import Settings
from engine.store import Database, Job, JobKind, endings, jobs, subjects

PARAMS = {
    "prompt": "a photo of ohwx cat",
    "count": 1,
    "seed": 3,
    "steps": 2,
    "guidance_scale": 5.0,
    "width": 64,
    "height": 64,
}


async def trained_pet(db: Database, settings: Settings, recommended: int | None) -> int:
    """A pet whose 4-step training kept checkpoints 2 and 4 and its final LoRA."""
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=7, name="thor", class_noun="cat")
        job_id = await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=7, subject_id=pet.id)
    assert await jobs.claim_next(db, "gpu-0", 60) is not None
    for step in (2, 4):
        weights = settings.job_dir(job_id) / "checkpoints" / f"step-{step:06d}" / LORA_WEIGHTS
        weights.parent.mkdir(parents=True)
        weights.write_bytes(b"lora")
    lora = settings.job_dir(job_id) / "lora"
    lora.mkdir()
    await endings.succeed(
        db,
        job_id,
        "gpu-0",
        {},
        lora_path=settings.data_relative(lora),
        recommended_step=recommended,
    )
    return pet.id


async def picture_job(db: Database, pet_id: int, **params: object) -> Job:
    async with db.transaction() as tx:
        job_id = await jobs.enqueue_tx(
            tx, JobKind.GENERATE, owner_id=7, subject_id=pet_id, params={**PARAMS, **params}
        )
    job = await jobs.get(db, job_id)
    assert job is not None
    return job


def step_of(lora: Path | None) -> str | None:
    assert lora is not None
    return lora.name  # "step-000002" for a checkpoint, "lora" for the final model


@pytest.mark.parametrize(("recommended", "drawn"), [(2, "step-000002"), (None, "lora")])
async def test_the_recommended_step_is_drawn_by_default_else_the_final_model(
    db: Database, settings: Settings, recommended: int | None, drawn: str
) -> None:
    pet = await trained_pet(db, settings, recommended=recommended)
    request = await build_request(db, settings, await picture_job(db, pet))
    assert step_of(request.lora) == drawn


async def test_the_owners_pick_wins_and_the_order_wins_over_both(
    db: Database, settings: Settings
) -> None:
    pet = await trained_pet(db, settings, recommended=2)
    await subjects.choose_checkpoint(db, pet, 4)
    assert step_of((await build_request(db, settings, await picture_job(db, pet))).lora) == (
        "step-000004"
    )
    await subjects.choose_checkpoint(db, pet, None)
    named = await picture_job(db, pet, checkpoint_step=4)
    assert step_of((await build_request(db, settings, named)).lora) == "step-000004"


async def test_a_recommended_step_that_is_gone_falls_back_to_the_final_model(
    db: Database, settings: Settings
) -> None:
    pet = await trained_pet(db, settings, recommended=2)
    for weights in settings.data_dir.glob("jobs/*/checkpoints/step-000002/*"):
        weights.unlink()
    request = await build_request(db, settings, await picture_job(db, pet))
    assert step_of(request.lora) == "lora"


async def test_a_picked_step_that_is_gone_is_refused_in_words(
    db: Database, settings: Settings
) -> None:
    pet = await trained_pet(db, settings, recommended=None)
    await subjects.choose_checkpoint(db, pet, 6)
    with pytest.raises(GenerationRefusedError, match="Step 6 of this pet is no longer kept"):
        await build_request(db, settings, await picture_job(db, pet))
