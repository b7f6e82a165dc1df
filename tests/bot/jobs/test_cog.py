"""/status and /cancel."""

from __future__ import annotations

import simcord

from engine.store import Database, JobState, engines, jobs
from tests.bot._world import World, reply, train


def field(answer: simcord.ResponseMessage, name: str) -> str:
    [embed] = answer.embeds
    return next(f.value for f in embed.fields if f.name == name) or ""


async def test_status_lists_my_jobs_pets_and_a_missing_engine(world: World) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.alice.slash(world.channel, "status"))

    assert answer.ephemeral
    assert "#1 in the queue" in field(answer, "Jobs")
    assert "**thor** (cat" in field(answer, "Pets")
    assert field(answer, "Engine").startswith("No engine running")


async def test_status_shows_a_live_engine(world: World, db: Database) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)

    answer = reply(await world.alice.slash(world.channel, "status"))

    assert "`gpu-0` on cuda:0" in field(answer, "Engine")


async def test_status_hides_other_users_jobs(world: World) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.bob.slash(world.channel, "status"))

    assert field(answer, "Jobs") == "None."
    assert "thor" not in field(answer, "Pets")


async def test_only_admins_see_everyones_jobs(world: World) -> None:
    await train(world.alice, world.channel)

    refused = reply(await world.bob.slash(world.channel, "status", everyone=True))
    allowed = reply(await world.admin.slash(world.channel, "status", everyone=True))

    assert "Only admins" in refused.content
    assert f"for <@{world.alice.id}>" in field(allowed, "Jobs")


async def test_cancel_without_a_number_cancels_my_active_job(world: World, db: Database) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.alice.slash(world.channel, "cancel"))

    [job] = await jobs.list_jobs(db)
    assert job.state is JobState.CANCELLED
    assert answer.content == f"Job {job.id} is cancelled."


async def test_cancel_of_a_running_job_asks_the_engine_to_stop(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None

    answer = reply(await world.alice.slash(world.channel, "cancel", job=job.id))

    assert "is stopping" in answer.content
    refreshed = await jobs.get(db, job.id)
    assert refreshed is not None and refreshed.cancel_requested


async def test_nobody_can_cancel_another_users_job(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    [job] = await jobs.list_jobs(db)

    answer = reply(await world.bob.slash(world.channel, "cancel", job=job.id))

    assert answer.ephemeral
    assert answer.content == f"You have no job {job.id}. `/status` lists yours."
    assert (await jobs.get(db, job.id)).state is JobState.QUEUED  # type: ignore[union-attr]


async def test_admin_can_cancel_any_job(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    [job] = await jobs.list_jobs(db)

    await world.admin.slash(world.channel, "cancel", job=job.id)

    assert (await jobs.get(db, job.id)).state is JobState.CANCELLED  # type: ignore[union-attr]


async def test_cancel_with_nothing_active_says_so(world: World) -> None:
    answer = reply(await world.alice.slash(world.channel, "cancel"))

    assert "no queued or running jobs" in answer.content


async def test_a_pet_waiting_for_its_training_reads_queued_like_its_job(world: World) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.alice.slash(world.channel, "status"))

    assert "#1 in the queue" in field(answer, "Jobs")
    assert field(answer, "Pets").endswith("): queued")
    assert "pending" not in str(answer.embeds[0].to_dict())
