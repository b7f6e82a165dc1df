"""While a pet grows, its pictures come from its old model; the growth's success switches
them to the new one, its failure leaves them where they were (torch-free: which files)."""

from __future__ import annotations

from pathlib import Path

from engine.generation.job import build_request
from engine.orders.growth import GROWTH_PARAM
from engine.settings import Settings
from engine.store import Database, JobKind, endings, jobs
from tests.engine.generation.test_checkpoint_step import picture_job, trained_pet


async def growth_job(db: Database, settings: Settings, pet: int) -> int:
    """A growth of `pet`, claimed, its checkpoint 2 and final LoRA written."""
    async with db.transaction() as tx:
        job_id = await jobs.enqueue_tx(
            tx, JobKind.TRAIN, owner_id=7, subject_id=pet, params={GROWTH_PARAM: {}}
        )
    claimed = await jobs.claim_next(db, "gpu-0", 60, kinds=(JobKind.TRAIN,))
    assert claimed is not None and claimed.id == job_id
    for folder in ("checkpoints/step-000002", "lora"):
        (settings.job_dir(job_id) / folder).mkdir(parents=True)
        (settings.job_dir(job_id) / folder / "pytorch_lora_weights.safetensors").write_bytes(b"")
    return job_id


async def drawn_from(db: Database, settings: Settings, pet: int) -> Path:
    lora = (await build_request(db, settings, await picture_job(db, pet))).lora
    assert lora is not None
    return lora


async def test_pictures_use_the_old_model_until_the_growth_succeeds(
    db: Database, settings: Settings
) -> None:
    pet = await trained_pet(db, settings, recommended=2)
    old = await drawn_from(db, settings, pet)
    growth = await growth_job(db, settings, pet)
    assert await drawn_from(db, settings, pet) == old  # step 2 of the OLD training
    lora = settings.data_relative(settings.job_dir(growth) / "lora")
    await endings.succeed(db, growth, "gpu-0", {}, lora_path=lora, recommended_step=2)
    new = await drawn_from(db, settings, pet)
    assert new != old and new.is_relative_to(settings.job_dir(growth))


async def test_a_failed_growth_leaves_pictures_on_the_old_model(
    db: Database, settings: Settings
) -> None:
    pet = await trained_pet(db, settings, recommended=None)
    old = await drawn_from(db, settings, pet)
    growth = await growth_job(db, settings, pet)
    await endings.fail(db, growth, "gpu-0", "out of memory")
    assert await drawn_from(db, settings, pet) == old
