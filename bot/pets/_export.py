"""/export: the files a pet's model is, how they reach the owner, and the words that say
which one loads where.

A rank-4 SDXL LoRA is 23.2 MB in fp32 (the diffusers file) and 11.6 MB in fp16 (the kohya
file), against the attachment limit Discord gives with each interaction (10 MiB in a server
without boosts, 50 MiB at boost level 2, 100 MiB at 3). So each file is attached where it
fits (both in one message when they fit together, else one per message); one that fits
nowhere is a presigned download link when storage is an object store (S3, GCS, Azure),
valid for LINK_LIFETIME at most; where there is neither, the reply says so and what would
let it through."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import discord

from bot.errors import UserError
from bot.utils.format import quoted, safe, safe_keeping_code
from bot.utils.paths import fetched_file, fetched_lora_weights
from engine.intake.sizes import sizes_apart
from engine.orders.checkpoint_choice import step_in_use
from engine.orders.lora_files import KOHYA_WEIGHTS, checkpoint_weights, kohya_beside
from engine.orders.not_ready import not_ready_reason
from engine.orders.pet_names import file_slug
from engine.settings import Settings
from engine.storage import Storage, open_storage
from engine.store import Database, Subject, SubjectStatus

# At most: a link signed with temporary credentials dies with them.
LINK_LIFETIME = timedelta(hours=24)
EMBED_DESCRIPTION_LIMIT = 4096


@dataclass(frozen=True)
class ModelFiles:
    diffusers: Path
    kohya: Path | None  # None: trained before petbooth wrote kohya files
    step: int | None  # the checkpoint its owner chose from a preview; None: the final model


@dataclass(frozen=True)
class ExportFile:
    path: Path
    name: str  # as the owner's disk gets it
    loads_in: str  # which programs load it
    size: int


@dataclass(frozen=True)
class Delivery:
    """How each file reaches the owner: attached (grouped into messages within the upload
    limit), linked, or neither (too large, and no store to link from)."""

    messages: list[list[ExportFile]]
    linked: list[tuple[ExportFile, str]]  # and its link
    held_back: list[tuple[ExportFile, str]]  # and its key in storage, for the operator
    limit: int


def upload_limit(settings: Settings, interaction: discord.Interaction) -> int:
    """What one reply may carry here: the limit Discord sends with the interaction (the
    server's boosts, a DM's), else the configured one."""
    given = getattr(interaction, "filesize_limit", None)
    return given if isinstance(given, int) and given > 0 else settings.discord_upload_limit_bytes


def export_files(subject: Subject, files: ModelFiles) -> list[ExportFile]:
    named = [(files.diffusers, _diffusers_name(subject), "diffusers (`load_lora_weights`)")]
    if files.kohya is not None:
        where = "ComfyUI, A1111/Forge (kohya format, fp16; diffusers loads it too)"
        named.append((files.kohya, _kohya_name(subject), where))
    return [ExportFile(path, name, where, path.stat().st_size) for path, name, where in named]


def plan_delivery(storage: Storage, files: list[ExportFile], limit: int) -> Delivery:
    """Which files go attached, in which message, and which as links (blocking: signing
    may ask the store's credentials)."""
    fitting = [f for f in files if f.size <= limit]
    if sum(f.size for f in fitting) <= limit:
        messages = [fitting] if fitting else []
    else:
        messages = [[f] for f in fitting]
    linked, held_back = [], []
    for file in files:
        if file.size > limit:
            key = storage.key_of(file.path)
            link = storage.share_link(key, LINK_LIFETIME)
            if link is not None:
                linked.append((file, link))
            else:
                held_back.append((file, key))
    return Delivery(messages, linked, held_back, limit)


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


def attachments(files: list[ExportFile]) -> list[discord.File]:
    return [discord.File(file.path, filename=file.name) for file in files]


def explanation(subject: Subject, files: ModelFiles, delivery: Delivery) -> str:
    """What was sent (or linked), and which program loads which file, in plain words."""
    at_step = f" at step {files.step}" if files.step is not None else ""
    lines = [
        f"**{safe(subject.name)}** as an SDXL LoRA{at_step}; the trigger is "
        f"`{subject.token} {safe(subject.class_noun)}`.",
    ]
    for file in (f for message in delivery.messages for f in message):
        lines.append(f"{quoted(file.name, 80)}: {file.loads_in}")
    hours = round(LINK_LIFETIME.total_seconds() / 3600)
    for file, _ in delivery.linked:  # each link in a message of its own: they are long
        size, limit = sizes_apart(file.size, delivery.limit)
        lines.append(
            f"{quoted(file.name, 80)}: {file.loads_in}. {size}, over this server's {limit} "
            f"upload limit: its download link is below (it works for up to {hours} hours)"
        )
    for file, key in delivery.held_back:
        size, limit = sizes_apart(file.size, delivery.limit)
        lines.append(
            f"{quoted(file.name, 80)} ({file.loads_in}) is not attached: {size}, over this "
            f"server's {limit} upload limit; the bot's operator can hand it over (`{key}`)."
        )
    if files.kohya is None:
        lines.append(
            "The kohya-format file for ComfyUI and A1111/Forge is missing: this model was "
            "trained before petbooth made one. Train the pet again to get it."
        )
    return "\n".join(lines)


def link_embed(file: ExportFile, link: str) -> discord.Embed | None:
    """The link under a title, in an embed (a presigned URL with a session token runs to
    thousands of characters: a message takes 2,000, an embed's description 4,096); None
    when even that cannot hold it."""
    text = f"[Download {file.name}]({link})"
    if len(text) > EMBED_DESCRIPTION_LIMIT:
        return None
    return discord.Embed(title=file.name, description=text)


def nothing_fits(subject: Subject, delivery: Delivery) -> str:
    """Why no file could be sent: each is over the limit, and storage cannot link."""
    sizes = " and ".join(sizes_apart(f.size, delivery.limit)[0] for f, _ in delivery.held_back)
    limit = sizes_apart(min(f.size for f, _ in delivery.held_back), delivery.limit)[1]
    keys = ", ".join(f"`{key}`" for _, key in delivery.held_back)
    return (
        f"{safe(subject.name)}'s model files ({sizes}) are over this server's "
        f"{limit} upload limit, so I can't attach them, and this bot "
        "keeps its files where I can't link to them. A server at boost level 2 takes files "
        f"up to 50 MB; or ask the bot's operator for {keys} from its storage."
    )


def _diffusers_name(subject: Subject) -> str:
    # A slug, not the name: "тор" or "a/b" must not become a file name on the user's disk.
    return f"{file_slug(subject.name)}-{subject.token}.safetensors"


def _kohya_name(subject: Subject) -> str:
    return f"{file_slug(subject.name)}-{subject.token}-kohya.safetensors"
