"""Where a subject's LoRA weights live (torch-free: the bot asks too), fetched from storage
into the local cache when needed.

The final model is ``subjects.lora_path``; a step chosen from a preview is that step's
checkpoint of the training the pet draws with (``subjects.model_job_id``; a growth running
now is not it yet), as long as its weights are still kept. Each
LoRA file has its kohya-format twin in the same directory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.settings import Settings
from engine.storage import Storage, open_storage
from engine.store import Database, subjects

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # diffusers' name for a UNet LoRA file
# The same LoRA keyed for kohya's loaders (ComfyUI, A1111/Forge), written beside every
# LORA_WEIGHTS since that format was added; pets trained before then have none.
KOHYA_WEIGHTS = "pet_kohya.safetensors"
# What only resuming from a checkpoint needs (most of its bytes); pruned from all but the
# newest few checkpoints, on disk and in storage.
RESUME_ONLY_FILES = ("optimizer.pt", "rng.pt")


async def checkpoint_weights(
    db: Database, settings: Settings, subject_id: int, step: int
) -> Path | None:
    """The LoRA file of `step` of the training the subject draws with, in the local cache,
    or None if not kept."""
    path = await _checkpoint_weights_path(db, settings, subject_id, step)
    return await fetch_weights(open_storage(settings), path) if path is not None else None


async def checkpoint_kept(db: Database, settings: Settings, subject_id: int, step: int) -> bool:
    """Whether `step`'s LoRA is still kept, asked of storage without downloading it."""
    job_id = await subjects.model_job(db, subject_id)
    return job_id is not None and await job_checkpoint_kept(settings, job_id, step)


async def job_checkpoint_kept(settings: Settings, job_id: int, step: int) -> bool:
    """Whether checkpoint `step` of training `job_id` still has its LoRA in storage."""
    path = job_checkpoint_weights(settings, job_id, step)
    storage = open_storage(settings)
    return await asyncio.to_thread(storage.exists, storage.key_of(path))


def job_checkpoint_weights(settings: Settings, job_id: int, step: int) -> Path:
    return settings.job_dir(job_id) / "checkpoints" / f"step-{step:06d}" / LORA_WEIGHTS


async def _checkpoint_weights_path(
    db: Database, settings: Settings, subject_id: int, step: int
) -> Path | None:
    # The model's training, not the latest one: a growth running now is not the pet's yet.
    job_id = await subjects.model_job(db, subject_id)
    return job_checkpoint_weights(settings, job_id, step) if job_id is not None else None


async def fetch_weights(storage: Storage, weights: Path) -> Path | None:
    """A LoRA file and its kohya twin in the local cache, downloaded from storage when only
    storage has them (another machine trained the pet); None when there is no such file."""
    kohya = weights.with_name(KOHYA_WEIGHTS)
    found = await asyncio.to_thread(storage.fetch, storage.key_of(weights))
    if found is not None:
        await asyncio.to_thread(storage.fetch, storage.key_of(kohya))
    return found


def kohya_beside(weights: Path) -> Path | None:
    """The kohya-format file written beside a LoRA file (the final one or a checkpoint's),
    or None when the pet was trained before petbooth wrote one."""
    path = weights.with_name(KOHYA_WEIGHTS)
    return path if path.is_file() else None
