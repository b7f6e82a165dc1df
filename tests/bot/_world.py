"""Test helpers: the guild a test runs in, and /train with sample photos."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import simcord
from simcord import ChannelHandle, GuildHandle, MemberActor

from engine.settings import Settings
from engine.store import Database, Subject, SubjectStatus, jobs, subjects
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


async def trained_subject(world: World, db: Database, settings: Settings) -> Subject:
    """/train, then play the engine: the job wrote its LoRA and the subject is ready."""
    await train(world.alice, world.channel)
    subject = await subjects.by_name(db, world.alice.id, "thor")
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
