"""Test helpers: the guild a test runs in, /train with sample photos, and playing the engine
(claiming jobs, writing its files and events) for the bot to deliver."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import simcord
from PIL import Image
from simcord import ChannelHandle, GuildHandle, MemberActor

from bot.delivery._cog import PROGRESS_EDIT_SECONDS
from engine.orders.lora_files import LORA_WEIGHTS
from engine.orders.pet_names import normalise_name
from engine.settings import Settings
from engine.store import (
    Database,
    EventKind,
    Job,
    JobKind,
    Subject,
    SubjectStatus,
    events,
    jobs,
    subjects,
)
from tests.samples import jpeg

ADMIN_ROLE = "petbooth-admin"


def bot_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a bot under test: small photos and files, no .env, an admin role."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "min_photo_side": 64,
        "max_file_bytes": 64 * 1024,  # small, so a test can send a file over it
        "discord_admin_role": ADMIN_ROLE,
        "delivery_poll_seconds": 1.0,
    }
    return Settings(_env_file=None, **{**values, **overrides})


@dataclass
class World:
    guild: GuildHandle
    channel: ChannelHandle
    alice: MemberActor
    bob: MemberActor
    admin: MemberActor


@dataclass
class Trial:
    """One test's bot and what it runs on: the guild, the database, simcord, the settings."""

    world: World
    db: Database
    env: simcord.Env
    settings: Settings


def photos(count: int, first_seed: int = 0, size: int = 96) -> dict[str, tuple[str, bytes]]:
    """/train options photo1..photoN: distinct small JPEGs."""
    return {
        f"photo{i + 1}": (f"pet_{i:02d}.jpg", jpeg(first_seed + i, (size, size)))
        for i in range(count)
    }


async def train(
    actor: MemberActor,
    channel: ChannelHandle,
    name: str = "thor",
    first_seed: int = 0,
    count: int = 5,
) -> simcord.InteractionResult:
    options = {"name": name, "class": "cat", **photos(count, first_seed)}
    return await actor.slash(channel, "train", **options)


async def imagine(world: World, **options: object) -> str:
    """/imagine by alice: the text she was answered."""
    return reply(await world.alice.slash(world.channel, "imagine", **options)).content


def reply(result: simcord.InteractionResult) -> simcord.ResponseMessage:
    """What the user saw: the (possibly deferred, then edited) response."""
    assert result.response is not None, result
    return result.response


def button_labels(message: discord.Message) -> list[str]:
    view = discord.ui.View.from_message(message)
    return [item.label or "" for item in view.children if isinstance(item, discord.ui.Button)]


def bot_messages(channel: ChannelHandle) -> list[discord.Message]:
    """What everyone in the channel sees from the bot (not ephemeral replies)."""
    return [m for m in channel.history() if m.author.bot and not m.flags.ephemeral]


async def trained_subject(
    world: World, db: Database, settings: Settings, name: str = "thor"
) -> Subject:
    """/train, then play the engine: the job wrote its LoRA and the subject is ready."""
    await train(world.alice, world.channel, name=name)
    subject = await subjects.by_name(db, world.alice.id, normalise_name(name))
    assert subject is not None
    [job] = await jobs.list_jobs(db)
    lora = settings.job_dir(job.id) / "lora"
    lora.mkdir(parents=True)
    (lora / "pytorch_lora_weights.safetensors").write_bytes(b"lora" * 1000)
    lora_rel = str(lora.relative_to(settings.data_dir))
    await subjects.set_status(db, subject.id, SubjectStatus.READY, lora_path=lora_rel)
    ready = await subjects.get(db, subject.id)
    assert ready is not None
    return ready


async def started_training(world: World, db: Database) -> Job:
    """/train, then the engine claims the job (which writes its `started` event)."""
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    return job


def png(settings: Settings, job_id: int, name: str) -> str:
    path = settings.job_dir(job_id) / "previews" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (200, 120, 40)).save(path)
    return str(path.relative_to(settings.data_dir))


def preview_with_checkpoint(settings: Settings, job_id: int, step: int) -> str:
    """What the engine leaves at a checkpoint: the weights (choosable) and the grid."""
    weights = settings.job_dir(job_id) / "checkpoints" / f"step-{step:06d}" / LORA_WEIGHTS
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"weights")
    return png(settings, job_id, f"step-{step:06d}.png")


async def delivered_preview(
    world: World, db: Database, env: simcord.Env, settings: Settings, step: int, weights: bool
) -> tuple[Job, discord.Message]:
    """/train, then the engine's preview grid at `step`, with that checkpoint's weights or
    without them, delivered: the job and the preview message."""
    job = await started_training(world, db)
    if weights:
        grid = preview_with_checkpoint(settings, job.id, step)
    else:
        grid = png(settings, job.id, f"step-{step:06d}.png")
    await events.append_event(db, job.id, EventKind.PREVIEW, {"step": step}, files=[grid])
    await poll(env)
    return job, bot_messages(world.channel)[-1]


async def progress(db: Database, job: Job, step: int, total: int = 500) -> None:
    await events.append_event(
        db,
        job.id,
        EventKind.PROGRESS,
        {
            "step": step,
            "total": total,
            "loss": 0.1,
            "seconds_per_step": 0.5,
            "eta_seconds": (total - step) * 0.5,
        },
    )


async def poll(env: simcord.Env) -> None:
    """Let enough virtual time pass for a delivery poll and a progress edit."""
    await env.advance_time(PROGRESS_EDIT_SECONDS + 1)


async def failed_jobs(world: World, db: Database, count: int) -> list[int]:
    """`count` trainings of Alice's in the channel that failed ("boom <job id>"): events
    for the outbox to deliver."""
    job_ids = []
    for _ in range(count):
        job_id = await jobs.enqueue(
            db,
            JobKind.TRAIN,
            owner_id=world.alice.id,
            guild_id=world.guild.id,
            channel_id=world.channel.id,
        )
        await events.append_event(db, job_id, EventKind.FAILED, {"error": f"boom {job_id}"})
        job_ids.append(job_id)
    return job_ids
