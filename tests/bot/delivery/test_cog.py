"""The delivery loop against events written the way the engine writes them."""

from __future__ import annotations

import simcord

from bot.client import PetBooth
from engine.settings import Settings
from engine.store import Database, EventKind, events
from tests.bot._world import (
    World,
    bot_messages,
    png,
    poll,
    preview_with_checkpoint,
    progress,
    started_training,
)


async def test_progress_is_one_message_edited_in_place(
    world: World, db: Database, env: simcord.Env
) -> None:
    job = await started_training(world, db)
    await poll(env)
    [first] = bot_messages(world.channel)
    assert "training started" in first.content

    await progress(db, job, 100)
    await poll(env)

    [edited] = bot_messages(world.channel)
    assert edited.id == first.id
    assert "step 100/500" in edited.content and "20%" in edited.content


async def test_only_the_newest_of_waiting_progress_events_is_shown(
    world: World, db: Database, env: simcord.Env
) -> None:
    job = await started_training(world, db)
    for step in (100, 200, 300):
        await progress(db, job, step)

    await poll(env)

    [message] = bot_messages(world.channel)
    assert "step 300/500" in message.content
    assert await events.undelivered(db) == []


async def test_finished_training_posts_the_ready_message(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    sample = png(settings, job.id, "step-000500.png")
    await events.append_event(
        db,
        job.id,
        EventKind.DONE,
        {
            "subject": "thor",
            "token": "ohwx",
            "class_noun": "cat",
            "steps": 500,
            "resumed_from": None,
            "final_loss": 0.05,
            "example": "/imagine prompt: a photo of TOK cat on a skateboard",
        },
        files=[sample],
    )

    await poll(env)

    ready = bot_messages(world.channel)[-1]
    assert "**thor** is ready after 500 steps" in ready.content
    assert "`/imagine prompt: a photo of TOK cat on a skateboard subject: thor`" in ready.content
    assert [a.filename for a in ready.attachments] == ["step-000500.png"]
    stored = env.backend.messages[world.channel.id][ready.id]
    assert stored.ping_user_ids == [job.owner_id]  # the owner is notified, nobody else
    assert not stored.ping_role_ids and not stored.mention_everyone


async def test_failure_is_posted_with_the_error_text(
    world: World, db: Database, env: simcord.Env
) -> None:
    job = await started_training(world, db)
    await events.append_event(db, job.id, EventKind.FAILED, {"error": "CUDA out of memory"})

    await poll(env)

    failure = bot_messages(world.channel)[-1]
    assert "training failed (job 1): CUDA out of memory" in failure.content
    assert env.backend.messages[world.channel.id][failure.id].ping_user_ids == [job.owner_id]


async def test_after_a_restart_the_rest_is_delivered_exactly_once(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    await progress(db, job, 100)
    grid = preview_with_checkpoint(settings, job.id, 100)
    await events.append_event(db, job.id, EventKind.PREVIEW, {"step": 100}, files=[grid])
    await poll(env)
    progress_id = bot_messages(world.channel)[0].id
    assert len(bot_messages(world.channel)) == 2  # progress + preview

    await progress(db, job, 400)
    await events.append_event(db, job.id, EventKind.DONE, {"subject": "thor", "steps": 500})
    await env.restart_bot(PetBooth(settings, db))
    await poll(env)
    await poll(env)

    messages = bot_messages(world.channel)
    assert len(messages) == 3  # the same progress message, the preview, the ready message
    assert messages[0].id == progress_id and "step 400/500" in messages[0].content
    assert "is ready" in messages[2].content
    assert await events.undelivered(db) == []
    # The preview's button was posted by the previous bot and still works.
    chosen = await world.alice.click(messages[1], label="Use step 100")
    assert chosen.response is not None and "step-100 model" in chosen.response.content
