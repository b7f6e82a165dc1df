"""/forget and /export replies: a pet still training is named as such, a pet of any
alphabet exports under a file-safe name, forgetting a running pet says what to do."""

from __future__ import annotations

from engine.settings import Settings
from engine.store import Database, jobs
from tests.bot._world import World, reply, train, trained_subject


async def test_export_while_queued_says_the_pet_is_queued(world: World) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    assert answer.content == (
        "thor is queued for training, but no engine is running right now: its training "
        "starts when one does. /status shows its progress."
    )


async def test_a_cyrillic_pets_files_get_an_ascii_name(
    world: World, db: Database, settings: Settings
) -> None:
    subject = await trained_subject(world, db, settings, name="Тор")

    answer = reply(await world.alice.slash(world.channel, "export", name="ТОР"))

    assert [a.filename for a in answer.attachments] == [f"pet-{subject.token}.safetensors"]
    assert answer.content.startswith("**тор** as an SDXL LoRA")


async def test_forget_while_training_says_why_and_what_to_do(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None

    answer = reply(await world.alice.slash(world.channel, "forget", name="thor"))

    assert answer.content == (
        f"thor can't be forgotten while its job {job.id} runs: `/cancel job:{job.id}` first, "
        "then /forget it."
    )
