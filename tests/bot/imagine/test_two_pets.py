"""/imagine with_pet: two of your pets in one picture, named in the reply, in the posted
pictures and kept by a reroll; the same pet twice is refused."""

from __future__ import annotations

import simcord
from PIL import Image

from engine.settings import Settings
from engine.store import (
    Database,
    EventKind,
    JobKind,
    JobState,
    Subject,
    SubjectStatus,
    events,
    jobs,
)
from engine.store import subjects as pets
from tests.bot._world import World, bot_messages, imagine, trained_subject


async def second_pet(world: World, db: Database, name: str = "rex") -> Subject:
    """A ready dog beside alice's trained cat (its LoRA is never read: no engine runs)."""
    async with db.transaction() as tx:
        pet = await pets.create_tx(tx, owner_id=world.alice.id, name=name, class_noun="dog")
    await pets.set_status(db, pet.id, SubjectStatus.READY, lora_path=f"loras/{name}")
    ready = await pets.get(db, pet.id)
    assert ready is not None
    return ready


async def test_with_pet_queues_one_picture_of_both(
    world: World, db: Database, settings: Settings
) -> None:
    thor = await trained_subject(world, db, settings)
    rex = await second_pet(world, db)

    text = await imagine(world, prompt="TOK1 cat and TOK2 dog on a sofa", with_pet="rex")

    job = (await jobs.list_jobs(db, owner_id=world.alice.id))[-1]
    assert job.subject_id == thor.id and job.params["with_subject_id"] == rex.id
    assert job.params["prompt"] == f"{thor.token} cat and {rex.token} dog on a sofa"
    assert text.startswith("Queued 1 picture of **thor** and **rex** (job")


async def test_the_same_pet_twice_is_refused(
    world: World, db: Database, settings: Settings
) -> None:
    await trained_subject(world, db, settings)

    text = await imagine(world, prompt="TOK1 and TOK2", subject="thor", with_pet="Thor")

    assert text == "thor is already the first pet: pick a different pet for `with_pet`."
    assert [j.kind.value for j in await jobs.list_jobs(db, owner_id=world.alice.id)] == ["train"]


async def test_the_pictures_name_both_pets_and_a_reroll_keeps_the_second(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    await trained_subject(world, db, settings)
    rex = await second_pet(world, db)
    await imagine(world, prompt="TOK1 and TOK2 in the snow", with_pet="rex", seed=7)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    path = settings.output_dir(job.id) / "image-0.png"
    path.parent.mkdir(parents=True)
    Image.new("RGB", (64, 64), (90, 50, 50)).save(path)
    done = {"images": 1, "seed": 7, "prompt": "snow", "subject": "thor", "second_subject": "rex"}
    await events.append_event(
        db, job.id, EventKind.DONE, done, files=[str(path.relative_to(settings.data_dir))]
    )
    await env.advance_time(settings.delivery_poll_seconds)
    posted = bot_messages(world.channel)[-1]

    await world.alice.click(posted, label="Reroll")

    assert "**thor** and **rex**: snow" in posted.content
    queued = await jobs.list_jobs(db, states=[JobState.QUEUED], owner_id=world.alice.id)
    [reroll] = [j for j in queued if j.kind is JobKind.GENERATE]
    assert reroll.params["with_subject_id"] == rex.id
    assert reroll.params["prompt"] == job.params["prompt"]
