"""Delivery when the engine's files are in S3 (moto's real server), not on this machine:
the bot attaches them from the bucket."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
import simcord
from PIL import Image

from engine.settings import Settings
from engine.storage import open_storage
from engine.store import Database, EventKind, events
from tests.bot._world import World, bot_messages, bot_settings, poll, started_training
from tests.s3 import S3Server


@pytest.fixture
def settings(tmp_path: Path, s3_server: S3Server) -> Settings:
    url = f"s3://{s3_server.new_bucket()}/pb"
    return bot_settings(tmp_path, **s3_server.settings_fields(url))


async def test_a_preview_in_the_bucket_is_attached(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    grid = BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(grid, format="PNG")
    key = f"jobs/{job.id}/previews/step-000100.png"
    open_storage(settings).put(key, grid.getvalue())  # an engine on another machine
    await events.append_event(db, job.id, EventKind.PREVIEW, {"step": 100}, files=[key])

    await poll(env)

    preview = bot_messages(world.channel)[-1]
    assert [a.filename for a in preview.attachments] == ["step-000100.png"]
    assert preview.attachments[0].size == len(grid.getvalue())
