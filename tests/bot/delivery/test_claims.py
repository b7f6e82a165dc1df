"""Several delivery loops, one outbox: each event's message is posted once, by the loop
whose claim holds it, and only for guilds on the loop's own shards."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import simcord

from bot.client import make_bot
from bot.delivery._cog import MAX_ATTEMPTS, Delivery
from engine.store import Database, Event, EventKind, JobKind, events, jobs
from tests.bot._world import World, bot_messages, bot_settings, failed_jobs, poll


async def test_two_delivery_loops_post_each_event_once(
    world: World, db: Database, env: simcord.Env
) -> None:
    """The bot's own loop polls; a second loop (another process's, with its own id) runs
    between and beside its polls, over the same outbox."""
    second = Delivery(env.bot, bot_id="second-bot")
    job_ids: list[int] = []

    for _ in range(2):
        job_ids += await failed_jobs(world, db, 4)
        await poll(env)  # the bot's loop takes these
        job_ids += await failed_jobs(world, db, 4)
        await second.deliver_pending()  # the second these
        job_ids += await failed_jobs(world, db, 4)
        await asyncio.gather(poll(env), second.deliver_pending())  # whoever claims first
    await poll(env)

    posted = [m.content for m in bot_messages(world.channel)]
    assert len(posted) == len(job_ids)
    for job_id in job_ids:
        assert len([p for p in posted if f"(job {job_id}): boom {job_id}\n" in p]) == 1
    assert await events.undelivered(db) == []
    deliverers = {e.claimed_by for job_id in job_ids for e in await events.for_job(db, job_id)}
    assert len(deliverers) == 2 and "second-bot" in deliverers  # both loops took part


async def test_a_job_another_bot_holds_waits_for_that_claim(
    world: World, db: Database, env: simcord.Env
) -> None:
    [job_id] = await failed_jobs(world, db, 1)
    await events.claim(db, "other-bot", 30)

    await poll(env)
    assert bot_messages(world.channel) == []

    await events.release(db, "other-bot")  # or its lease ran out
    await poll(env)
    [message] = bot_messages(world.channel)
    assert f"(job {job_id}): boom" in message.content


async def test_a_claim_lost_before_the_post_stops_the_post(
    world: World, db: Database, env: simcord.Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot stalled past its lease after claiming; another took the job over: it must
    not post what the other one now delivers."""
    await failed_jobs(world, db, 1)
    original = events.claim

    async def claimed_then_taken_over(*args: Any, **kwargs: Any) -> list[Event]:
        batch = await original(*args, **kwargs)
        await db.execute("UPDATE events SET claimed_by = 'other-bot', claim_until = ?", (1e12,))
        return batch

    monkeypatch.setattr(events, "claim", claimed_then_taken_over)
    await poll(env)

    assert bot_messages(world.channel) == []
    [waiting] = await events.undelivered(db)
    assert waiting.claimed_by == "other-bot" and waiting.sending_at is None


async def test_a_sharded_bot_delivers_only_its_own_shards_guilds(
    tmp_path: Path, db: Database
) -> None:
    settings = bot_settings(tmp_path, discord_shard_count=2, discord_shard_ids=(1,))
    env = simcord.Env(make_bot(settings, db), shard_count=2)
    await env.start()
    try:
        mine = env.create_guild("On shard 1", shard_id=1)
        channel = mine.create_text_channel("pets")
        alice = mine.add_member(env.create_user("alice"))
        on_shard_0 = (1000 << 22) + 1  # another process's guild: (id >> 22) % 2 == 0
        for guild_id, channel_id in ((mine.id, channel.id), (on_shard_0, 4242), (None, 4343)):
            job_id = await jobs.enqueue(
                db, JobKind.TRAIN, owner_id=alice.id, guild_id=guild_id, channel_id=channel_id
            )
            await events.append_event(db, job_id, EventKind.FAILED, {"error": f"boom {job_id}"})

        await poll(env)

        [message] = bot_messages(channel)
        assert "(job 1): boom 1" in message.content
        waiting = await events.undelivered(db)
        assert [e.job_id for e in waiting] == [2, 3]  # shard 0's guild, and a DM
        assert all(e.claimed_by is None for e in waiting)
    finally:
        await env.shutdown()
    assert not env.errors


async def test_a_store_away_for_many_polls_loses_no_message(
    world: World, db: Database, env: simcord.Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store errors while delivering (PostgreSQL restarting) are not the event's failed
    attempts: more of them than an event may fail still end in its one message."""
    [job_id] = await failed_jobs(world, db, 1)
    read = jobs.get
    left = [MAX_ATTEMPTS + 2]

    async def away(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise sqlite3.OperationalError("database is locked")
        return await read(*args, **kwargs)

    monkeypatch.setattr(jobs, "get", away)
    for _ in range(MAX_ATTEMPTS + 3):
        await poll(env)

    [message] = bot_messages(world.channel)
    assert f"(job {job_id}): boom" in message.content
    assert await events.undelivered(db) == []
