"""/forget and /export."""

from __future__ import annotations

from engine.orders.imagine import ImagineOrder, enqueue_imagine
from engine.settings import Settings
from engine.store import Database, jobs, subjects
from tests.bot._world import World, reply, train, trained_subject


async def test_forget_asks_first_then_deletes_files_and_rows(
    world: World, db: Database, settings: Settings
) -> None:
    subject = await trained_subject(world, db, settings)
    [photo] = (await subjects.photos(db, subject.id))[:1]
    pet_folder = (settings.data_dir / photo.path).parent.parent
    [job] = await jobs.list_jobs(db)
    picture = await enqueue_imagine(db, settings, ImagineOrder(world.alice.id, "TOK cat"))
    drawn = settings.output_dir(picture.job_id) / "image-0.png"
    drawn.parent.mkdir(parents=True)
    drawn.write_bytes(b"png")

    asked = reply(await world.alice.slash(world.channel, "forget", name="thor"))
    assert asked.ephemeral and "cannot be undone" in asked.content
    assert pet_folder.is_dir()

    done = await world.alice.click(asked.message, label="Forget thor")

    assert "is forgotten" in reply(done).content
    assert not pet_folder.exists()
    assert not settings.job_dir(job.id).exists()
    assert not drawn.parent.exists()  # its pictures too
    assert await subjects.get(db, subject.id) is None
    assert await jobs.list_jobs(db) == []


async def test_keep_button_deletes_nothing(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    asked = reply(await world.alice.slash(world.channel, "forget", name="thor"))

    await world.alice.click(asked.message, label="Keep")

    assert await subjects.by_name(db, world.alice.id, "thor") is not None


async def test_nobody_can_forget_another_users_pet(world: World, db: Database) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.bob.slash(world.channel, "forget", name="thor"))

    assert answer.content == "You have no pet named `thor`. `/status` lists yours."
    assert await subjects.by_name(db, world.alice.id, "thor") is not None


async def test_forget_refuses_while_the_pet_is_training(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None

    answer = reply(await world.alice.slash(world.channel, "forget", name="thor"))

    assert f"`/cancel job:{job.id}` first" in answer.content


async def test_export_attaches_the_lora(world: World, db: Database, settings: Settings) -> None:
    subject = await trained_subject(world, db, settings)

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    assert answer.ephemeral
    [attachment] = answer.attachments
    assert attachment.filename == f"thor-{subject.token}.safetensors"
    assert attachment.size == 4000


# What (simulated) Discord sends with each interaction as its attachment limit: 25 MiB.
DISCORDS_LIMIT = 25 * 1024 * 1024


async def test_export_over_the_upload_limit_says_so(
    world: World, db: Database, settings: Settings
) -> None:
    subject = await trained_subject(world, db, settings)
    assert subject.lora_path is not None
    weights = settings.data_dir / subject.lora_path / "pytorch_lora_weights.safetensors"
    weights.write_bytes(b"\0" * (DISCORDS_LIMIT + 1))

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    # A folder for storage: no link to offer either. Sizes a byte apart read apart.
    assert "(26,214,401 bytes) are over this server's 26,214,400 bytes upload limit" in (
        answer.content
    )
    assert "A server at boost level 2 takes files up to 50 MB" in answer.content
    assert "`jobs/1/lora/pytorch_lora_weights.safetensors` from its storage" in answer.content
    assert answer.attachments == []


async def test_nobody_can_export_another_users_pet(
    world: World, db: Database, settings: Settings
) -> None:
    await trained_subject(world, db, settings)

    answer = reply(await world.bob.slash(world.channel, "export", name="thor"))

    assert answer.content == "You have no pet named `thor`. `/status` lists yours."
    assert answer.attachments == []


async def test_export_before_training_finishes_says_why(world: World) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    assert "thor is queued for training" in answer.content


async def test_pet_names_autocomplete_only_from_my_pets(world: World) -> None:
    await train(world.alice, world.channel)

    mine = await world.alice.autocomplete(world.channel, "forget", "name", "th")
    theirs = await world.bob.autocomplete(world.channel, "forget", "name", "th")

    assert [c["value"] for c in mine] == ["thor"]
    assert theirs == []
