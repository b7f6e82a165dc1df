"""/imagine: pictures of a trained pet, queued with its token."""

from __future__ import annotations

from engine.settings import Settings
from engine.store import Database, engines, jobs
from tests.bot._world import World, imagine, train, trained_subject


async def test_imagine_queues_a_job_with_the_pets_token(
    world: World, db: Database, settings: Settings
) -> None:
    subject = await trained_subject(world, db, settings)

    text = await imagine(world, prompt="TOK cat on a skateboard", seed=42)

    job = (await jobs.list_jobs(db, owner_id=world.alice.id))[-1]
    assert text.startswith(f"Queued 1 picture of **thor** (job {job.id}, seed 42)")
    assert job.params["prompt"] == f"{subject.token} cat on a skateboard"


async def test_imagine_with_tok_but_no_trained_pet_says_to_train_first(world: World) -> None:
    await train(world.alice, world.channel)  # pending, not ready

    assert "thor is queued for training" in await imagine(world, prompt="TOK cat")


async def test_subject_autocomplete_offers_only_my_ready_pets(
    world: World, db: Database, settings: Settings
) -> None:
    await trained_subject(world, db, settings)

    mine = await world.alice.autocomplete(world.channel, "imagine", "subject", "")
    theirs = await world.bob.autocomplete(world.channel, "imagine", "subject", "")

    assert [c["value"] for c in mine] == ["thor"]
    assert theirs == []


async def test_imagine_while_the_only_engine_loads_its_model_says_so(
    world: World, db: Database, settings: Settings
) -> None:
    await trained_subject(world, db, settings)
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None, loading=True)

    text = await imagine(world, prompt="TOK cat", seed=42)

    assert "the engine is still loading its model, so they are drawn once it is." in text
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)
    assert ", about " in await imagine(world, prompt="TOK cat", seed=43)
