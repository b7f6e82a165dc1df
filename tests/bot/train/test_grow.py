"""/grow: more photos for a ready pet queue its new training; the reply says what happens."""

from __future__ import annotations

import simcord

from engine.settings import Settings
from engine.store import Database, JobKind, JobState, endings, jobs, subjects
from tests.bot._world import World, bot_messages, photos, poll, reply, train


async def ready_thor(world: World, db: Database, settings: Settings) -> None:
    """/train thor on 5 photos, then play the engine: its training succeeded."""
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    lora = settings.job_dir(job.id) / "lora"
    lora.mkdir(parents=True)
    await endings.succeed(db, job.id, "gpu-0", {}, lora_path=settings.data_relative(lora))


async def test_grow_with_photos_queues_a_training_and_says_the_old_model_draws_meanwhile(
    world: World, db: Database, settings: Settings
) -> None:
    await ready_thor(world, db, settings)

    answer = reply(
        await world.alice.slash(world.channel, "grow", name="thor", **photos(2, first_seed=10))
    )

    assert "queued to grow from 5 to 7 photos" in answer.content
    assert "/imagine draws thor with its current model" in answer.content
    assert [a.filename for a in answer.attachments] == ["contact-sheet.jpg"]
    queued = await jobs.list_jobs(db, states=[JobState.QUEUED])
    assert [j.kind for j in queued] == [JobKind.TRAIN]
    thor = await subjects.by_name(db, world.alice.id, "thor")
    assert thor is not None and thor.status.value == "ready"


async def test_a_grown_pet_s_ready_message_says_how_many_photos_it_grew_by(
    world: World, db: Database, settings: Settings, env: simcord.Env
) -> None:
    await ready_thor(world, db, settings)
    await world.alice.slash(world.channel, "grow", name="thor", **photos(2, first_seed=10))
    growth = await jobs.claim_next(db, "gpu-0", 60)
    assert growth is not None
    grew = {"mode": "continue", "from": 5, "to": 7}
    payload = {"subject": "thor", "steps": 250, "grew": grew}
    await endings.succeed(db, growth.id, "gpu-0", payload, lora_path="jobs/grown/lora")

    await poll(env)

    ready = bot_messages(world.channel)[-1].content
    assert (
        f"**thor** grew from 5 to 7 photos and is ready after 250 steps (job {growth.id})" in ready
    )
