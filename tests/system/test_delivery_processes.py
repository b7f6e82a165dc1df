"""Real bot processes sharing one outbox (on SQLite, then on PostgreSQL) and one (fake)
Discord: two at once deliver every event exactly once; one SIGKILLed between Discord's
answer and its record is followed by a fresh one that neither loses nor repeats a message,
though 60 messages came after it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.store import Database, EventKind, JobKind, events, jobs
from tests.engine_env import query, wait_until
from tests.system._fake_discord import USER_ID, FakeDiscord, fake_discord

CHANNEL = 5_000_000_000_000_001
GUILD = 6_000_000_000_000_001
LEASE = 1.0  # seconds a dead bot's claims hold its events back
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    with fake_discord() as api:
        yield api


async def failed_jobs(db: Database, count: int) -> dict[int, str]:
    """``count`` trainings in CHANNEL that failed: each event's id and what its message says."""
    texts = {}
    for _ in range(count):
        job_id = await jobs.enqueue(
            db, JobKind.TRAIN, owner_id=USER_ID, guild_id=GUILD, channel_id=CHANNEL
        )
        error = f"error number {job_id}"
        event_id = await events.append_event(db, job_id, EventKind.FAILED, {"error": error})
        texts[event_id] = f"(job {job_id}): {error}"
    return texts


def start_bot(
    database: Path | str, data_dir: Path, api: FakeDiscord, die_after: int = 0
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETBOOTH_")}
    args = [str(database), str(data_dir), api.base_url, str(LEASE), str(die_after)]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.system._delivery_bot", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def ready(bot: subprocess.Popen[str]) -> None:
    assert bot.stdout is not None
    line = bot.stdout.readline()
    assert line.strip() == "ready", line + bot.stdout.read()


def undelivered(database: Path | str) -> int:
    [(count,)] = query(database, "SELECT count(*) FROM events WHERE delivered_at IS NULL")
    return int(count)


def delivered_by(database: Path | str) -> dict[int, tuple[int, str]]:
    """Each event's message id and the bot process that delivered it."""
    rows = query(database, "SELECT id, message_id, claimed_by FROM events")
    return {event_id: (message_id, bot) for event_id, message_id, bot in rows}


def deliverers(database: Path | str) -> set[str]:
    rows = query(database, "SELECT DISTINCT claimed_by FROM events WHERE delivered_at IS NOT NULL")
    return {bot for (bot,) in rows}


def stop(*bots: subprocess.Popen[str]) -> None:
    for bot in bots:
        bot.kill()
        bot.wait(timeout=30)


def assert_each_posted_once(api: FakeDiscord, texts: dict[int, str]) -> None:
    posted = api.bot_messages(CHANNEL)
    assert len(posted) == len(texts), posted
    for text in texts.values():
        assert len([p for p in posted if text in p]) == 1, (text, posted)


async def test_two_bot_processes_deliver_each_event_once(
    tmp_path: Path, discord_api: FakeDiscord, store_target: Path | str
) -> None:
    database = store_target
    async with await Database.open(database) as db:
        bots = [start_bot(database, tmp_path / f"bot-{n}", discord_api) for n in range(2)]
        try:
            for bot in bots:
                ready(bot)
            texts: dict[int, str] = {}
            for _ in range(100):  # while both poll: each claims what it finds first
                texts |= await failed_jobs(db, 3)
                await asyncio.sleep(0.05)
                if len(texts) >= 30 and len(deliverers(database)) == 2:
                    break
            wait_until(lambda: undelivered(database) == 0, bots[0], "every event delivered", 60)
        finally:
            stop(*bots)

    assert_each_posted_once(discord_api, texts)
    assert len(deliverers(database)) == 2  # both took part


async def test_a_bot_killed_between_post_and_record_is_followed_without_loss_or_repeat(
    tmp_path: Path, discord_api: FakeDiscord, store_target: Path | str
) -> None:
    database = store_target
    async with await Database.open(database) as db:
        texts = await failed_jobs(db, 3)
    doomed = start_bot(database, tmp_path / "doomed", discord_api, die_after=1)
    try:
        assert doomed.wait(timeout=60) == -signal.SIGKILL
    finally:
        stop(doomed)
    [lost] = discord_api.channels[CHANNEL]  # posted; the store never heard of it
    assert undelivered(database) == 3
    for n in range(60):  # the channel moves on: the lost message is past the newest 50
        discord_api.post(CHANNEL, f"chatter {n}")

    fresh = start_bot(database, tmp_path / "fresh", discord_api)
    try:
        ready(fresh)
        wait_until(lambda: undelivered(database) == 0, fresh, "every event delivered", 60)
    finally:
        stop(fresh)

    assert_each_posted_once(discord_api, texts)
    first_event = min(texts)
    assert delivered_by(database)[first_event][0] == int(lost["id"])
