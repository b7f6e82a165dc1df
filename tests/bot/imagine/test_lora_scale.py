"""/imagine's lora_scale option: into the job, carried by the buttons, shown with the
pictures when it is not the normal 1."""

from __future__ import annotations

import pytest
import simcord
from PIL import Image

from engine.settings import Settings
from engine.store import Database, EventKind, Job, JobKind, JobState, events, jobs
from tests.bot._world import World, bot_messages, imagine, trained_subject


async def queued_pictures(db: Database) -> list[Job]:
    """The queued generate jobs (trained_subject leaves its training job queued too)."""
    queued = await jobs.list_jobs(db, states=[JobState.QUEUED])
    return [j for j in queued if j.kind is JobKind.GENERATE]


async def deliver_pictures(env: simcord.Env, db: Database, settings: Settings, job: Job) -> None:
    """Play the engine: claim `job`, write its picture and its `done` event as record_done does."""
    claimed = await jobs.claim_next(db, "gpu-0", 60)  # pictures go ahead of the training
    assert claimed is not None and claimed.id == job.id
    path = settings.output_dir(job.id) / "image-0.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (90, 50, 50)).save(path)
    payload = {
        "images": 1,
        "seed": job.params["seed"],
        "prompt": job.params["prompt"],
        "lora_scale": job.params["lora_scale"],
    }
    files = [str(path.relative_to(settings.data_dir))]
    await events.append_event(db, job.id, EventKind.DONE, payload, files=files)
    await env.advance_time(settings.delivery_poll_seconds)


async def test_the_option_reaches_the_params_and_the_buttons_keep_it(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    await trained_subject(world, db, settings)

    await imagine(world, prompt="TOK cat on a skateboard", seed=7, lora_scale=0.6)
    [first] = await queued_pictures(db)
    await deliver_pictures(env, db, settings, first)
    posted = bot_messages(world.channel)[-1]
    await world.alice.click(posted, label="More like these")
    await world.alice.click(posted, label="Reroll")

    assert first.params["lora_scale"] == 0.6
    assert "seed 7 · lora scale 0.6" in posted.content
    more, reroll = await queued_pictures(db)
    assert more.params["lora_scale"] == reroll.params["lora_scale"] == 0.6


async def test_without_the_option_the_scale_is_1_and_not_shown(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    await trained_subject(world, db, settings)

    await imagine(world, prompt="TOK cat on a skateboard", seed=7)
    [job] = await queued_pictures(db)
    await deliver_pictures(env, db, settings, job)

    assert job.params["lora_scale"] == 1.0
    assert "lora scale" not in bot_messages(world.channel)[-1].content


async def test_discord_offers_only_0_to_1_5(world: World, db: Database, settings: Settings) -> None:
    await trained_subject(world, db, settings)

    with pytest.raises(simcord.OptionError, match=r"≤ 1\.5"):
        await imagine(world, prompt="TOK cat", lora_scale=2.0)

    assert await queued_pictures(db) == []
