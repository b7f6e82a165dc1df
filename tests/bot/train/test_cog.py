"""/train and the "Train a pet from these photos" message command."""

from __future__ import annotations

from bot.train._cog import CONTEXT_MENU_NAME
from engine.store import Database, JobKind, JobState, jobs, subjects
from tests.bot._world import World, photos, reply, train
from tests.samples import jpeg, zip_of


async def test_train_queues_and_replies_with_contact_sheet(world: World, db: Database) -> None:
    result = await train(world.alice, world.channel)

    answer = reply(result)
    assert answer.ephemeral
    assert "**thor** (cat) is queued" in answer.content
    assert "position 1 in the queue" in answer.content
    assert [a.filename for a in answer.attachments] == ["contact-sheet.jpg"]
    [job] = await jobs.list_jobs(db, owner_id=world.alice.id)
    assert (job.kind, job.state) == (JobKind.TRAIN, JobState.QUEUED)
    assert job.channel_id == world.channel.id


async def test_train_reports_each_unusable_file_by_name(world: World) -> None:
    options = {
        "name": "thor",
        "class": "cat",
        **photos(5),
        "photo6": ("notes.txt", b"not a photo at all"),
        "photo7": ("huge.jpg", b"\xff" * (65 * 1024)),
    }
    answer = reply(await world.alice.slash(world.channel, "train", **options))

    assert "is queued" in answer.content
    assert "`notes.txt`" in answer.content
    assert "`huge.jpg`" in answer.content and "over the" in answer.content


async def test_train_accepts_a_zip_of_photos(world: World, db: Database) -> None:
    archive = zip_of([(f"cat_{i}.jpg", jpeg(i, (96, 96))) for i in range(6)])
    options = {"name": "luna", "class": "cat", "photo1": ("luna.zip", archive)}

    answer = reply(await world.alice.slash(world.channel, "train", **options))

    assert "Training on 6 photos" in answer.content
    subject = await subjects.by_name(db, world.alice.id, "luna")
    assert subject is not None
    assert len(await subjects.photos(db, subject.id)) == 6


async def test_train_with_too_few_photos_is_refused_privately(world: World, db: Database) -> None:
    answer = reply(await train(world.alice, world.channel, count=2))

    assert answer.ephemeral
    assert answer.content.startswith("Training not queued:")
    assert await jobs.list_jobs(db) == []


async def test_second_training_while_one_is_active_is_refused(world: World) -> None:
    await train(world.alice, world.channel, name="thor")

    answer = reply(await train(world.alice, world.channel, name="luna", first_seed=50))

    assert "already have a training in progress" in answer.content


async def test_context_menu_trains_from_a_messages_photos(world: World, db: Database) -> None:
    posted = await world.alice.send(
        world.channel,
        "my cat",
        attachments=[(f"pic_{i}.jpg", jpeg(i, (96, 96))) for i in range(5)],
    )

    shown = await world.alice.context_menu(world.channel, CONTEXT_MENU_NAME, posted)
    assert shown.modal is not None
    result = await world.alice.submit_modal(shown, {"pet_name": "Thor", "pet_class": "cat"})

    assert "**thor** (cat) is queued" in reply(result).content
    assert await subjects.by_name(db, world.alice.id, "thor") is not None


async def test_context_menu_on_a_message_without_photos_says_what_to_do(world: World) -> None:
    posted = await world.alice.send(world.channel, "no pictures here")

    answer = reply(await world.alice.context_menu(world.channel, CONTEXT_MENU_NAME, posted))

    assert answer.ephemeral
    assert "no photos or .zip files" in answer.content
