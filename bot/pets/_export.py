"""/export: the files a pet's model is, and the words that say which one loads where."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import discord

from bot.errors import UserError
from bot.utils.format import quoted, safe, safe_keeping_code
from bot.utils.paths import fetched_file, fetched_lora_weights
from engine.orders.checkpoint_choice import step_in_use
from engine.orders.lora_files import KOHYA_WEIGHTS, checkpoint_weights, kohya_beside
from engine.orders.not_ready import not_ready_reason
from engine.orders.pet_names import file_slug
from engine.settings import Settings
from engine.storage import Storage, open_storage
from engine.store import Database, Subject, SubjectStatus


@dataclass(frozen=True)
class ModelFiles:
    diffusers: Path
    kohya: Path | None  # None: trained before petbooth wrote kohya files
    step: int | None  # the checkpoint its owner chose from a preview; None: the final model

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in (self.diffusers, self.kohya) if path)


async def model_files(db: Database, settings: Settings, subject: Subject) -> ModelFiles:
    """The files /imagine draws with (the owner's pick, else the recommended step) while that
    checkpoint is kept, else the final model's."""
    if subject.status is not SubjectStatus.READY:  # what its training is doing instead
        raise UserError(safe_keeping_code(await not_ready_reason(db, settings, subject)))
    if not subject.lora_path:
        raise UserError(f"{safe(subject.name)} has no model file; train it again.")
    step = step_in_use(subject).step
    if step is not None:
        found = await checkpoint_weights(db, settings, subject.id, step)
        if found is not None:
            return ModelFiles(found, kohya_beside(found), step)
    final = await asyncio.to_thread(final_weights, open_storage(settings), subject.lora_path)
    if final is None:
        raise UserError(f"{safe(subject.name)}'s model file is missing; train it again.")
    return ModelFiles(final, kohya_beside(final), None)


def final_weights(storage: Storage, lora_path: str) -> Path | None:
    """The final model's LoRA file and its kohya twin, fetched from storage (blocking)."""
    weights = fetched_lora_weights(storage, lora_path)
    if weights is not None:
        fetched_file(storage, storage.key_of(weights.with_name(KOHYA_WEIGHTS)))
    return weights


def attachments(subject: Subject, files: ModelFiles) -> list[discord.File]:
    named = [discord.File(files.diffusers, filename=_diffusers_name(subject))]
    if files.kohya is not None:
        named.append(discord.File(files.kohya, filename=_kohya_name(subject)))
    return named


def explanation(subject: Subject, files: ModelFiles) -> str:
    """What was sent, and which program loads which file, in plain words."""
    at_step = f" at step {files.step}" if files.step is not None else ""
    lines = [
        f"**{safe(subject.name)}** as an SDXL LoRA{at_step}; the trigger is "
        f"`{subject.token} {safe(subject.class_noun)}`.",
        f"{quoted(_diffusers_name(subject), 80)}: diffusers (`load_lora_weights`)",
    ]
    if files.kohya is not None:
        lines.append(f"{quoted(_kohya_name(subject), 80)}: ComfyUI, A1111/Forge (kohya format)")
    else:
        lines.append(
            "The kohya-format file for ComfyUI and A1111/Forge is missing: this model was "
            "trained before petbooth made one. Train the pet again to get it."
        )
    return "\n".join(lines)


def _diffusers_name(subject: Subject) -> str:
    # A slug, not the name: "тор" or "a/b" must not become a file name on the user's disk.
    return f"{file_slug(subject.name)}-{subject.token}.safetensors"


def _kohya_name(subject: Subject) -> str:
    return f"{file_slug(subject.name)}-{subject.token}-kohya.safetensors"
