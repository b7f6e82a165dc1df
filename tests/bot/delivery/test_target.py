"""Where a job's messages go: its channel, or the owner's DMs when the channel is gone or
closed to the bot."""

from __future__ import annotations

import discord
import simcord

from engine.store import Database, EventKind, JobKind, events, jobs
from tests.bot._world import World, bot_messages, poll


async def test_a_job_whose_channel_is_gone_is_delivered_by_dm(
    world: World, db: Database, env: simcord.Env
) -> None:
    gone_channel = 4242  # deleted since the job was queued
    job_id = await jobs.enqueue(
        db, JobKind.TRAIN, owner_id=world.alice.id, channel_id=gone_channel, total_steps=500
    )
    await events.append_event(db, job_id, EventKind.FAILED, {"error": "no photos"})

    await poll(env)

    [dm] = world.alice.user.dm_channel.history()
    assert "failed (job 1): no photos" in dm.content
    assert await events.undelivered(db) == []


async def test_a_job_whose_channel_forbids_the_bot_is_delivered_by_dm(
    world: World, db: Database, env: simcord.Env
) -> None:
    me = world.guild.me
    assert me is not None
    locked = world.guild.create_text_channel(
        "locked", overwrites={me: discord.PermissionOverwrite(send_messages=False)}
    )
    job_id = await jobs.enqueue(
        db, JobKind.TRAIN, owner_id=world.alice.id, channel_id=locked.id, total_steps=500
    )
    await events.append_event(db, job_id, EventKind.CANCELLED, {})

    await poll(env)

    assert bot_messages(locked) == []
    [dm] = world.alice.user.dm_channel.history()
    assert "job 1 was cancelled" in dm.content
