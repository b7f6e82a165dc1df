"""Files an event names are attached only from inside the data dir."""

from __future__ import annotations

from pathlib import Path

import simcord
from PIL import Image

from engine.store import Database, EventKind, events
from tests.bot._world import World, bot_messages, poll, started_training


async def test_files_outside_the_data_dir_are_never_attached(
    world: World, db: Database, env: simcord.Env, tmp_path: Path
) -> None:
    job = await started_training(world, db)
    secret = tmp_path / "secret.png"
    Image.new("RGB", (8, 8)).save(secret)
    await events.append_event(
        db, job.id, EventKind.PREVIEW, {"step": 100}, files=["../secret.png", str(secret)]
    )

    await poll(env)

    assert bot_messages(world.channel)[-1].attachments == []
