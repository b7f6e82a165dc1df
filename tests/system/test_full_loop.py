"""The whole product on the tiny SDXL: the real bot (driven through simcord) and a real
engine process share one SQLite file. /train -> progress edited in place -> preview ->
ready -> /imagine -> the picture in the channel."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import discord
import pytest
import simcord

from engine.settings import GenerationDefaults, Settings, TrainingDefaults
from engine.store import Database
from tests.bot._world import World, bot_messages, bot_settings, reply, train
from tests.engine_env import TINY_PICTURES, engine_env, start_petbooth

pytestmark = pytest.mark.slow

STEPS = 4


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return bot_settings(
        tmp_path,
        max_file_bytes=25 * 1024 * 1024,
        # the bot fixes a job's parameters when it queues it: tiny-model sizes here
        training=TrainingDefaults(resolution=64, steps=STEPS, checkpoint_every=2),
        generation=GenerationDefaults(resolution=64, steps=2),
    )


async def until(env: simcord.Env, found: Callable[[], object], what: str) -> None:
    """Let real time pass for the engine and virtual time for the bot's delivery loop."""
    deadline = time.monotonic() + 240
    while not found():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.to_thread(time.sleep, 0.2)
        await env.advance_time(4)


def with_text(world: World, text: str) -> list[discord.Message]:
    return [m for m in bot_messages(world.channel) if text in m.content]


async def test_train_to_ready_to_imagine_with_a_real_engine(
    world: World, env: simcord.Env, db: Database, settings: Settings, tiny_model_dir: Path
) -> None:
    queued = reply(await train(world.alice, world.channel))
    assert "queue" in queued.content.lower()

    extra = {
        "PETBOOTH_TRAINING__RESOLUTION": "64",
        "PETBOOTH_TRAINING__STEPS": str(STEPS),
        "PETBOOTH_TRAINING__CHECKPOINT_EVERY": "2",
        **TINY_PICTURES,
    }
    engine = start_petbooth("engine", env=engine_env(settings.data_dir, tiny_model_dir, **extra))
    try:
        await until(env, lambda: with_text(world, "is ready"), "the ready message")
        progress = with_text(world, "training")
        assert len(progress) == 1, [m.content for m in progress]  # one message, edited
        assert f"step {STEPS}/{STEPS}" in progress[0].content
        previews = [m for m in bot_messages(world.channel) if "at step 2/" in m.content]
        assert previews and previews[0].attachments[0].filename == "step-000002.png"
        (ready,) = with_text(world, "is ready")
        assert ready.attachments, "the ready message shows a sample"

        asked = reply(
            await world.alice.slash(
                world.channel, "imagine", prompt="a photo of TOK cat on a skateboard", seed=3
            )
        )
        assert "queued" in asked.content.lower()

        def picture() -> list[discord.Message]:
            return [
                m
                for m in bot_messages(world.channel)
                if any(a.filename == "image-0.png" for a in m.attachments)
            ]

        await until(env, picture, "the picture")
        (posted,) = picture()
        assert "seed 3" in posted.content
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=60)
    assert len(list((settings.data_dir / "outputs").glob("*/image-0.png"))) == 1
