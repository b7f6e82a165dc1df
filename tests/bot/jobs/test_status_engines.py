"""/status's Engine field: live engines with their current job, silent ones as "not heard
from", never a finished job as an engine's current one (the rule: engine.orders.liveness)."""

from __future__ import annotations

from engine.store import Database, endings, engines, jobs
from tests.bot._world import World, reply, train
from tests.bot.jobs.test_cog import field


async def silence(db: Database, engine_id: str, seconds: float) -> None:
    """As if `engine_id` last beat `seconds` ago (killed since)."""
    await db.execute(
        "UPDATE engines SET heartbeat_at = ? WHERE engine_id = ?", (db.now() - seconds, engine_id)
    )


async def engine_field(world: World) -> str:
    return field(reply(await world.alice.slash(world.channel, "status")), "Engine")


async def test_a_silent_engine_is_not_heard_from_and_no_engine_runs(
    world: World, db: Database
) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)
    await silence(db, "gpu-0", 45)

    assert (await engine_field(world)).splitlines() == [
        "No engine running: jobs wait in the queue until one starts.",
        "`gpu-0` on cuda:0: not heard from for 45 s",
    ]


async def test_live_engines_come_first_with_their_job(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-1", 60)
    assert job is not None
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)
    await silence(db, "gpu-0", 40)
    await engines.beat(db, "gpu-1", pid=2, device="cuda:1", job_id=job.id)

    assert (await engine_field(world)).splitlines() == [
        f"`gpu-1` on cuda:1: heartbeat 0 s ago, running job {job.id}",
        "`gpu-0` on cuda:0: not heard from for 40 s",
    ]


async def test_a_finished_job_is_no_engines_current_job(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=job.id)
    assert await endings.fail(db, job.id, "gpu-0", "out of memory")

    assert await engine_field(world) == "`gpu-0` on cuda:0: heartbeat 0 s ago, idle"


async def test_an_engine_loading_its_model_is_not_called_idle(world: World, db: Database) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None, loading=True)

    assert await engine_field(world) == (
        "`gpu-0` on cuda:0: heartbeat 0 s ago, loading its model (engine started 0 s ago)"
    )
