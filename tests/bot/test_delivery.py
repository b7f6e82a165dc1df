"""The delivery loop against events written the way the engine writes them."""

from __future__ import annotations

from pathlib import Path

import discord
import simcord
from PIL import Image

from bot.client import PetBooth
from bot.delivery._cog import PROGRESS_EDIT_SECONDS
from engine.orders.lora_files import LORA_WEIGHTS
from engine.settings import Settings
from engine.store import Database, EventKind, Job, JobKind, events, jobs, subjects
from tests.bot._world import World, bot_messages, train


async def started_training(world: World, db: Database) -> Job:
    """/train, then the engine claims the job (which writes its `started` event)."""
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    return job


def png(settings: Settings, job_id: int, name: str) -> str:
    path = settings.job_dir(job_id) / "previews" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (200, 120, 40)).save(path)
    return str(path.relative_to(settings.data_dir))


def preview_with_checkpoint(settings: Settings, job_id: int, step: int) -> str:
    """What the engine leaves at a checkpoint: the weights (choosable) and the grid."""
    weights = settings.job_dir(job_id) / "checkpoints" / f"step-{step:06d}" / LORA_WEIGHTS
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"weights")
    return png(settings, job_id, f"step-{step:06d}.png")


async def progress(db: Database, job: Job, step: int, total: int = 500) -> None:
    await events.append_event(
        db,
        job.id,
        EventKind.PROGRESS,
        {
            "step": step,
            "total": total,
            "loss": 0.1,
            "seconds_per_step": 0.5,
            "eta_seconds": (total - step) * 0.5,
        },
    )


async def poll(env: simcord.Env) -> None:
    """Let enough virtual time pass for a delivery poll and a progress edit."""
    await env.advance_time(PROGRESS_EDIT_SECONDS + 1)


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


async def test_preview_is_posted_with_a_button_that_picks_its_step(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    grid = preview_with_checkpoint(settings, job.id, 200)
    await events.append_event(db, job.id, EventKind.PREVIEW, {"step": 200}, files=[grid])
    await poll(env)

    preview = bot_messages(world.channel)[-1]
    assert "at step 200/" in preview.content
    assert [a.filename for a in preview.attachments] == ["step-000200.png"]

    refused = await world.bob.click(preview, label="Use step 200")
    chosen = await world.alice.click(preview, label="Use step 200")

    assert refused.response is not None and "Only the pet's owner" in refused.response.content
    assert chosen.response is not None and "step-200 model" in chosen.response.content
    subject = await subjects.get(db, job.subject_id or 0)
    assert subject is not None and subject.chosen_step == 200


async def test_a_step_whose_weights_are_gone_cannot_be_chosen(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    grid = png(settings, job.id, "step-000100.png")  # the grid stayed, the weights did not
    await events.append_event(db, job.id, EventKind.PREVIEW, {"step": 100}, files=[grid])
    await poll(env)

    answer = await world.alice.click(bot_messages(world.channel)[-1], label="Use step 100")

    assert answer.response is not None and "no longer kept" in answer.response.content
    subject = await subjects.get(db, job.subject_id or 0)
    assert subject is not None and subject.chosen_step is None


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


async def test_a_job_whose_channel_is_gone_is_delivered_by_dm(
    world: World, db: Database, env: simcord.Env
) -> None:
    gone_channel = 4242  # deleted since the job was queued
    job_id = await jobs.enqueue(
        db, JobKind.TRAIN, owner_id=world.alice.id, channel_id=gone_channel, total_steps=500
    )
    await events.append_event(db, job_id, EventKind.FAILED, {"error": "no photos"})

    await poll(env)

    [dm] = world.alice.user.dm_channel.history()
    assert "failed (job 1): no photos" in dm.content
    assert await events.undelivered(db) == []


async def test_a_job_whose_channel_forbids_the_bot_is_delivered_by_dm(
    world: World, db: Database, env: simcord.Env
) -> None:
    me = world.guild.me
    assert me is not None
    locked = world.guild.create_text_channel(
        "locked", overwrites={me: discord.PermissionOverwrite(send_messages=False)}
    )
    job_id = await jobs.enqueue(
        db, JobKind.TRAIN, owner_id=world.alice.id, channel_id=locked.id, total_steps=500
    )
    await events.append_event(db, job_id, EventKind.CANCELLED, {})

    await poll(env)

    assert bot_messages(locked) == []
    [dm] = world.alice.user.dm_channel.history()
    assert "job 1 was cancelled" in dm.content
