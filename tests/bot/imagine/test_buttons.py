"""Reroll, More like these and Delete under delivered pictures."""

from __future__ import annotations

from dataclasses import dataclass

import discord
import pytest
import simcord
from PIL import Image

from engine.settings import Settings
from engine.store import Database, EventKind, Job, JobKind, JobState, events, jobs
from tests.bot._world import (
    World,
    bot_messages,
    button_labels,
    imagine,
    trained_subject,
)


async def generated(world: World, db: Database, env: simcord.Env, settings: Settings) -> Job:
    """/imagine, then play the engine: claim the job and write its pictures and `done`."""
    await imagine(world, prompt="TOK cat on a skateboard", count=2, seed=7)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None and job.kind is JobKind.GENERATE
    files = []
    for i in range(2):
        path = settings.output_dir(job.id) / f"image-{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (i * 100, 50, 50)).save(path)
        files.append(str(path.relative_to(settings.data_dir)))
    await events.append_event(
        db,
        job.id,
        EventKind.DONE,
        {
            "images": 2,
            "seed": 7,
            "prompt": job.params["prompt"],
            "truncated": None,
            "negative_truncated": "a second cat",  # a long negative prompt's cut end
        },
        files=files,
    )
    await env.advance_time(settings.delivery_poll_seconds)
    return job


@dataclass
class Pictures:
    job: Job  # the generate job, done
    message: discord.Message  # its pictures in the channel, with the buttons


@pytest.fixture
async def pictures(world: World, db: Database, env: simcord.Env, settings: Settings) -> Pictures:
    """A trained pet's /imagine, answered: two pictures posted with their buttons."""
    await trained_subject(world, db, settings)
    job = await generated(world, db, env, settings)
    return Pictures(job, bot_messages(world.channel)[-1])


async def test_pictures_are_posted_with_their_buttons(pictures: Pictures) -> None:
    posted = pictures.message
    assert "seed 7" in posted.content
    assert "the prompt was too long" not in posted.content
    assert "(the negative prompt was too long; its end was ignored)" in posted.content
    assert [a.filename for a in posted.attachments] == ["image-0.png", "image-1.png"]
    assert button_labels(posted) == ["Reroll", "More like these", "Delete"]


async def test_more_queues_the_next_seeds_and_reroll_a_new_one(
    world: World, db: Database, pictures: Pictures
) -> None:
    first, posted = pictures.job, pictures.message

    await world.alice.click(posted, label="More like these")
    await world.alice.click(posted, label="Reroll")

    queued = await jobs.list_jobs(db, states=[JobState.QUEUED])
    more, reroll = queued[-2:]
    assert more.params["seed"] == 9  # seeds 7 and 8 were used by the two pictures
    assert more.params["prompt"] == reroll.params["prompt"] == first.params["prompt"]
    assert reroll.params["seed"] != first.params["seed"]


async def test_only_the_requester_can_use_or_delete_the_pictures(
    world: World, db: Database, settings: Settings, pictures: Pictures
) -> None:
    job, posted = pictures.job, pictures.message
    before = len(await jobs.list_jobs(db))

    refused = await world.bob.click(posted, label="Reroll")
    not_deleted = await world.bob.click(posted, label="Delete")
    await world.alice.click(posted, label="Delete")

    assert refused.response is not None and "Only the person" in refused.response.content
    assert not_deleted.response is not None and not_deleted.response.ephemeral
    assert len(await jobs.list_jobs(db)) == before
    assert posted.id not in [m.id for m in bot_messages(world.channel)]
    assert not settings.output_dir(job.id).exists()  # the pictures went with the message
