"""What /imagine and the buttons under its pictures say when they refuse: a pet still
training is named as such, and each button says what only the requester may do."""

from __future__ import annotations

import discord
import pytest
import simcord

from engine.settings import Settings
from engine.store import Database, EventKind, JobKind, engines, events, jobs, subjects
from tests.bot._world import World, bot_messages, imagine, reply, train, trained_subject


async def test_tok_right_after_train_names_the_pet_still_queued(world: World) -> None:
    await train(world.alice, world.channel)

    assert await imagine(world, prompt="a photo of TOK cat") == (
        "thor is queued for training, but no engine is running right now: its training "
        "starts when one does. /status shows its progress."
    )


async def test_tok_while_the_pet_trains_gives_its_step_and_time_left(
    world: World, db: Database
) -> None:
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    async with db.transaction() as tx:
        await jobs.record_progress_tx(tx, job.id, 120, 500, 0.6)
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=job.id)

    text = await imagine(world, prompt="a photo of TOK cat", subject="thor")

    assert text == (
        "thor is still training (step 120/500, about 4 min left): /status shows its progress."
    )


async def posted_pictures(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> discord.Message:
    """A trained pet's /imagine, drawn (no files needed) and posted with its buttons."""
    await trained_subject(world, db, settings)
    await imagine(world, prompt="TOK cat on a skateboard", seed=7)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None and job.kind is JobKind.GENERATE
    await events.append_event(db, job.id, EventKind.DONE, {"seed": 7, "images": 0})
    await env.advance_time(settings.delivery_poll_seconds + 1)
    return bot_messages(world.channel)[-1]


@pytest.mark.parametrize(
    ("label", "said"),
    [
        (
            "Reroll",
            "Only the person who asked for these pictures can reroll them. Use /imagine for "
            "your own.",
        ),
        (
            "More like these",
            "Only the person who asked for these pictures can ask for more like them. Use "
            "/imagine for your own.",
        ),
        ("Delete", "Only the person who asked for these pictures can delete them."),
    ],
)
async def test_a_stranger_pressing_a_picture_button_is_told_what_only_the_owner_can_do(
    world: World, db: Database, env: simcord.Env, settings: Settings, label: str, said: str
) -> None:
    posted = await posted_pictures(world, db, env, settings)

    answer = reply(await world.bob.click(posted, label=label))

    assert answer.ephemeral and answer.content == said


@pytest.mark.parametrize(
    ("label", "said"),
    [
        ("Reroll", "These pictures' pet was forgotten, so they can't be rerolled."),
        (
            "More like these",
            "These pictures' pet was forgotten, so no more can be drawn like them.",
        ),
        (
            "Delete",
            "These pictures' pet was forgotten, so I can no longer tell whose they are; a "
            "moderator can delete the message.",
        ),
    ],
)
async def test_buttons_of_a_forgotten_pets_pictures_say_why_they_do_nothing(
    world: World, db: Database, env: simcord.Env, settings: Settings, label: str, said: str
) -> None:
    posted = await posted_pictures(world, db, env, settings)
    subject = await subjects.by_name(db, world.alice.id, "thor")
    assert subject is not None
    await subjects.delete(db, subject.id)  # its jobs go with it, as /forget does

    answer = reply(await world.alice.click(posted, label=label))

    assert answer.content == said
