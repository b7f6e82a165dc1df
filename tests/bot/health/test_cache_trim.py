"""The bot trims its local cache of an object store once an hour (the engine's side and the
rules of what goes are in tests/engine/storage/test_cache_trim.py). An hour of simulated
time is thousands of the bot's timers, so the test runs the loop's body once itself."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import simcord

from bot.health._cache_trim import TRIM_EVERY_HOURS, CacheTrim
from engine.settings import Settings
from engine.storage import open_storage
from tests.bot._world import bot_settings
from tests.s3 import S3Server

KEY = "outputs/9/image-0.png"


@pytest.fixture
def settings(tmp_path: Path, s3_server: S3Server) -> Settings:
    url = f"s3://{s3_server.new_bucket()}/pb"
    fields = s3_server.settings_fields(url)
    return bot_settings(tmp_path, storage_cache_limit_gib=1e-9, **fields)  # a byte or so


async def test_an_old_cached_picture_goes_within_the_hour_and_stays_in_the_store(
    env: simcord.Env, settings: Settings
) -> None:
    storage = open_storage(settings)
    storage.put(KEY, b"png" * 100)  # an engine on another machine drew it
    cached = storage.fetch(KEY)  # the bot posted it
    assert cached is not None
    two_hours_ago = time.time() - 7200
    os.utime(cached, (two_hours_ago, two_hours_ago))

    cog = env.bot.get_cog("CacheTrim")
    assert isinstance(cog, CacheTrim)
    assert cog.trim.is_running() and cog.trim.hours == TRIM_EVERY_HOURS == 1
    await cog.trim()  # what the loop runs every hour

    assert not cached.exists()
    assert storage.exists(KEY)
    assert storage.fetch(KEY) == cached and cached.read_bytes() == b"png" * 100
