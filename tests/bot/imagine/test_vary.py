"""Vary (subtle / strong) and Upscale under delivered pictures: a menu under several, buttons
under one, owner only."""

from __future__ import annotations

import discord
import simcord
from PIL import Image

from engine.settings import Settings
from engine.store import Database, Job, JobKind, JobState, endings, jobs
from tests.bot._world import World, bot_messages, button_labels, imagine, trained_subject


async def drawn(db: Database, env: simcord.Env, settings: Settings, count: int) -> Job:
    """Play the engine: claim the waiting picture job, write its PNGs, finish it."""
    job = await jobs.claim_next(db, "gpu-0", 60, (JobKind.GENERATE,))
    assert job is not None
    files = []
    for i in range(count):
        path = settings.output_dir(job.id) / f"image-{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (i * 100, 50, 50)).save(path)
        files.append(path.relative_to(settings.data_dir).as_posix())
    payload = {"images": count, "seed": job.params["seed"], "prompt": job.params["prompt"]}
    assert await endings.succeed(db, job.id, "gpu-0", payload, files)
    await env.advance_time(settings.delivery_poll_seconds)
    return job


async def two_pictures(world: World, db: Database, env: simcord.Env, settings: Settings) -> Job:
    await trained_subject(world, db, settings)
    await imagine(world, prompt="TOK cat on a skateboard", count=2, seed=7)
    return await drawn(db, env, settings, 2)


async def waiting_pictures(db: Database) -> list[Job]:
    """Picture jobs queued (the pet's training job waits too: no engine trains in these)."""
    queued = await jobs.list_jobs(db, states=[JobState.QUEUED])
    return [job for job in queued if job.kind is JobKind.GENERATE]


def menu_id(message: discord.Message) -> str:
    [menu] = [c for c in discord.ui.View.from_message(message).children if c.type.value == 3]
    assert isinstance(menu, discord.ui.Select) and menu.custom_id is not None
    return menu.custom_id


async def test_picking_a_strong_variation_of_picture_two_queues_it(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    source = await two_pictures(world, db, env, settings)
    posted = bot_messages(world.channel)[-1]

    result = await world.alice.select(posted, ["strong:2"], custom_id=menu_id(posted))

    [queued] = await waiting_pictures(db)
    assert (queued.params["variation"], queued.params["source_picture"]) == ("strong", 2)
    assert queued.params["source_job_id"] == source.id and queued.params["count"] == 1
    assert result.response is not None and result.response.ephemeral
    assert f"Variation (strong) of picture 2 of job {source.id}" in result.response.content


async def test_a_stranger_cannot_vary_someone_elses_pictures(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    await two_pictures(world, db, env, settings)
    posted = bot_messages(world.channel)[-1]

    refused = await world.bob.select(posted, ["subtle:1"], custom_id=menu_id(posted))

    assert refused.response is not None and "Only the person" in refused.response.content
    assert not await waiting_pictures(db)


async def test_a_delivered_variation_says_what_it_is_and_can_be_upscaled(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    source = await two_pictures(world, db, env, settings)
    await world.alice.select(
        bot_messages(world.channel)[-1], ["subtle:1"], custom_id=f"pb:varypick:{source.id}"
    )
    variation = await drawn(db, env, settings, 1)
    posted = bot_messages(world.channel)[-1]

    await world.alice.click(posted, label="Upscale 2x")

    assert f"Variation (subtle) of picture 1 of job {source.id}" in posted.content
    assert button_labels(posted)[3:] == ["Vary (subtle)", "Vary (strong)", "Upscale 2x"]
    [upscale] = await waiting_pictures(db)
    assert upscale.params["variation"] == "upscale"
    assert upscale.params["source_job_id"] == variation.id
    assert upscale.params["width"] == 2 * variation.params["width"] == 2048


async def test_a_variation_of_an_upscaled_picture_offers_no_second_upscale(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    source = await two_pictures(world, db, env, settings)
    await world.alice.select(
        bot_messages(world.channel)[-1], ["upscale:1"], custom_id=f"pb:varypick:{source.id}"
    )
    await drawn(db, env, settings, 1)
    await world.alice.click(bot_messages(world.channel)[-1], label="Vary (subtle)")
    await drawn(db, env, settings, 1)

    posted = bot_messages(world.channel)[-1]
    assert "Variation (subtle)" in posted.content
    assert button_labels(posted)[3:] == ["Vary (subtle)", "Vary (strong)"]  # 2048 px already
