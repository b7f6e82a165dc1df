"""A Discord call that outlasts the claim's lease (a slow upload, a rate-limit sleep) keeps
its claim: no other delivery loop takes the job over and posts it again meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord

import bot.delivery._keep_claim
from bot.client import PetBooth
from bot.delivery._cog import Delivery
from engine.settings import Settings
from engine.store import Database, events
from tests.bot._world import World, bot_messages, bot_settings, failed_jobs

LEASE = 3.0
UPLOAD = 4 * LEASE  # the first post takes this long to reach Discord


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return bot_settings(tmp_path, delivery_claim_seconds=LEASE)


async def first_post_takes(
    seconds: float, env: simcord.Env, db: Database, monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """The bot's first post takes `seconds` of simcord's clock to reach Discord (the leases
    run on that clock too); returns a list holding the number of posts tried so far."""
    monkeypatch.setattr(db, "now", lambda: env.now().timestamp())
    original = discord.PartialMessageable.send
    calls = [0]

    async def send(self: discord.PartialMessageable, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            await asyncio.sleep(seconds)
        return await original(self, **kwargs)

    monkeypatch.setattr(discord.PartialMessageable, "send", send)
    return calls


async def test_a_post_slower_than_the_lease_is_not_posted_again_by_another_loop(
    world: World, db: Database, env: simcord.Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await first_post_takes(UPLOAD, env, db, monkeypatch)
    [job_id] = await failed_jobs(world, db, 1)
    assert isinstance(env.bot, PetBooth)
    second = Delivery(env.bot, bot_id="second-bot")

    await env.advance_time(2)  # the bot's loop claims the event and starts its post
    for _ in range(3):  # the other loop polls while the post is in flight, past the lease
        await env.advance_time(LEASE)
        assert await second.deliver_pending() == 0
    await env.advance_time(UPLOAD - 3 * LEASE)  # the post reaches Discord

    [message] = bot_messages(world.channel)
    assert f"boom {job_id}" in message.content
    [event] = await events.for_job(db, job_id)
    own = env.bot.get_cog("Delivery")
    assert isinstance(own, Delivery)
    assert event.message_id == message.id and event.claimed_by == own.bot_id


HUNG = 5 * LEASE  # HUNG_CALL_SECONDS, shortened: the test advances a simulated clock


async def test_a_hung_post_is_abandoned_and_the_event_posted_once_by_a_later_attempt(
    world: World, db: Database, env: simcord.Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.delivery._keep_claim, "HUNG_CALL_SECONDS", HUNG)
    calls = await first_post_takes(100 * HUNG, env, db, monkeypatch)  # it never answers
    [job_id] = await failed_jobs(world, db, 1)

    await env.advance_time(HUNG)
    assert calls == [1] and bot_messages(world.channel) == []  # still waiting on the first
    await env.advance_time(2 * LEASE)  # abandoned; the next poll's attempt posts

    [message] = bot_messages(world.channel)
    assert f"boom {job_id}" in message.content and calls == [2]
    [event] = await events.for_job(db, job_id)
    assert event.message_id == message.id
