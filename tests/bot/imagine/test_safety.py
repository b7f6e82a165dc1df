"""Safe channels through simcord: /imagine's pictures pass the engine's safety filter (a
tiny classifier that flags every picture) outside age-restricted channels; the owner is
told what was withheld and the channel never gets it."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
import simcord
from PIL import Image

from engine.generation.job import Drawn, record_done
from engine.generation.request import GenerateRequest
from engine.settings import SafetySettings, Settings
from engine.store import Database, EventKind, events, jobs
from tests.bot._world import World, bot_messages, bot_settings, imagine, reply
from tests.safety_models import flags_everything

__all__ = ["flags_everything"]


@pytest.fixture
def settings(tmp_path: Path, flags_everything: Path) -> Settings:
    return bot_settings(tmp_path, safety=SafetySettings(model=str(flags_everything)))


async def drawn_and_delivered(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> discord.Message:
    """/imagine, then play the engine up to its real `record_done` (which screens the
    picture): the message the delivery loop posted."""
    await imagine(world, prompt="a cat on a beach", seed=7)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    path = settings.output_dir(job.id) / "image-0.png"
    path.parent.mkdir(parents=True)
    Image.new("RGB", (64, 64), (90, 50, 50)).save(path)
    request = GenerateRequest.from_params(job.params, lora=None, subject=None)
    await record_done(db, settings, job, "gpu-0", request, Drawn([path], None))
    await env.advance_time(settings.delivery_poll_seconds)
    return bot_messages(world.channel)[-1]


async def test_a_flagged_picture_is_withheld_from_the_channel(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    message = await drawn_and_delivered(world, db, env, settings)

    assert message.attachments == []
    assert f"<@{world.alice.id}>" in message.content
    assert (
        "The picture was withheld by this server's safety filter (this channel is not "
        "age-restricted)." in message.content
    )


async def test_an_age_restricted_channel_gets_the_picture(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    # simcord's channels carry no NSFW flag: mark the bot's copy, as Discord's would read
    channel = env.bot.get_channel(world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    channel.nsfw = True

    message = await drawn_and_delivered(world, db, env, settings)

    assert [a.filename for a in message.attachments] == ["image-0.png"]
    assert "withheld" not in message.content


async def test_a_server_with_the_filter_off_gets_the_picture(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    mods = world.guild.create_role("Mods", permissions=discord.Permissions(manage_guild=True))
    manager = world.guild.add_member(env.create_user("dana"), roles=[mods])
    answer = reply(await manager.slash(world.channel, "server safety", state="off"))
    assert answer.content.startswith("Safety filter: off")

    message = await drawn_and_delivered(world, db, env, settings)

    assert [a.filename for a in message.attachments] == ["image-0.png"]


async def test_the_rest_are_posted_with_how_many_were_withheld(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    await imagine(world, prompt="a cat on a beach", count=4, seed=7)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    kept = []
    for index in (0, 1, 3):  # the engine deleted image-2.png
        path = settings.output_dir(job.id) / f"image-{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (90, 50, 50)).save(path)
        kept.append(settings.data_relative(path))
    payload = {"images": 3, "seed": 7, "prompt": "a cat", "withheld": 1, "withheld_images": [2]}
    await events.append_event(db, job.id, EventKind.DONE, payload, files=kept)
    await env.advance_time(settings.delivery_poll_seconds)

    message = bot_messages(world.channel)[-1]
    assert len(message.attachments) == 3
    assert "1 of 4 pictures was withheld by this server's safety filter" in message.content
