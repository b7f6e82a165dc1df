"""Where a subject's LoRA weights live on disk (torch-free: the bot asks too).

The final model is ``subjects.lora_path``; a step chosen from a preview is that step's
checkpoint of the subject's latest training, as long as its weights are still kept. Each
LoRA file has its kohya-format twin in the same directory.
"""

from __future__ import annotations

from pathlib import Path

from engine.settings import Settings
from engine.store import Database, JobKind

LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # diffusers' name for a UNet LoRA file
# The same LoRA keyed for kohya's loaders (ComfyUI, A1111/Forge), written beside every
# LORA_WEIGHTS since that format was added; pets trained before then have none.
KOHYA_WEIGHTS = "pet_kohya.safetensors"


async def checkpoint_weights(
    db: Database, settings: Settings, subject_id: int, step: int
) -> Path | None:
    """The LoRA file of `step` of the subject's latest training, or None if not kept."""
    row = await db.fetch_one(
        "SELECT id FROM jobs WHERE subject_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        (subject_id, JobKind.TRAIN.value),
    )
    if row is None:
        return None
    path = settings.job_dir(int(row[0])) / "checkpoints" / f"step-{step:06d}" / LORA_WEIGHTS
    return path if path.is_file() else None


def kohya_beside(weights: Path) -> Path | None:
    """The kohya-format file written beside a LoRA file (the final one or a checkpoint's),
    or None when the pet was trained before petbooth wrote one."""
    path = weights.with_name(KOHYA_WEIGHTS)
    return path if path.is_file() else None
