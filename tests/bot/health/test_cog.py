"""The bot's heartbeat: touched while the bot is logged in, read by the bot container's
healthcheck (`petbooth doctor --liveness bot`)."""

from __future__ import annotations

import asyncio
import os
import time

import simcord

from engine.operations.doctor import bot_liveness
from engine.settings import Settings


async def test_a_ready_bot_beats_and_its_healthcheck_passes(
    env: simcord.Env, settings: Settings
) -> None:
    for _ in range(100):  # the first beat follows the READY event
        if settings.bot_heartbeat_path.exists():
            break
        await asyncio.sleep(0.05)

    assert bot_liveness(settings).ok


def test_the_healthcheck_fails_without_a_recent_beat(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    assert not bot_liveness(settings).ok  # never logged in

    settings.bot_heartbeat_path.touch()
    three_minutes_ago = time.time() - 180
    os.utime(settings.bot_heartbeat_path, (three_minutes_ago, three_minutes_ago))

    finding = bot_liveness(settings)
    assert not finding.ok and "180 s ago" in finding.detail
