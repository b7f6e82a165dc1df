"""What /train answers, read as a new user reads it: no ETA without an engine, one token
(TOK) to write, names of any alphabet, refusals whose `code` renders and whose user text
stays escaped, and iPhone photos."""

from __future__ import annotations

import io
from types import SimpleNamespace

import discord
import pillow_heif

from bot.train._cog import CONTEXT_MENU_NAME
from bot.train._downloads import is_photo_or_zip
from engine.store import Database, engines, subjects
from tests.bot._world import World, reply, train
from tests.samples import scene


def heic(seed: int) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(scene(seed, (96, 96))).save(buffer, quality=90)
    return buffer.getvalue()


def avif(seed: int) -> bytes:
    buffer = io.BytesIO()
    scene(seed, (96, 96)).save(buffer, "AVIF", quality=90)
    return buffer.getvalue()


async def train_named(world: World, name: str) -> str:
    return reply(await train(world.alice, world.channel, name=name)).content


async def test_without_a_running_engine_train_promises_no_time(world: World) -> None:
    text = reply(await train(world.alice, world.channel)).content

    assert text.startswith(
        "**thor** (cat) is queued for training: job 1, position 1 in the queue. No engine is "
        "running right now: your training starts when one does."
    )
    assert "ready in about" not in text


async def test_with_a_running_engine_train_says_when_it_is_ready(
    world: World, db: Database
) -> None:
    await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=None)

    text = reply(await train(world.alice, world.channel)).content

    assert "job 1, position 1 in the queue, ready in about " in text
    assert "No engine" not in text


async def test_train_says_to_write_tok_where_the_pet_goes(world: World) -> None:
    text = reply(await train(world.alice, world.channel)).content

    assert (
        "Once it is ready, in /imagine prompts write TOK where thor goes: "
        "`a photo of TOK cat on the beach`." in text
    )
    assert "token is" not in text  # one token to learn, not two


async def test_a_cyrillic_name_is_a_pet_and_the_same_name_in_capitals_is_taken(
    world: World, db: Database
) -> None:
    assert "**тор** (cat) is queued" in await train_named(world, "Тор")
    assert await subjects.by_name(db, world.alice.id, "тор") is not None

    again = reply(await train(world.alice, world.channel, name="ТОР", first_seed=50)).content

    assert again.startswith("Training not queued:\n- You already have a pet named 'тор'.")


async def test_a_bad_name_is_told_what_is_wrong_and_the_example_renders(world: World) -> None:
    text = await train_named(world, "big thor!")

    assert text == (
        "Training not queued:\n- The name contains a space and '!'. Use 1-32 letters or "
        "digits (any alphabet), with '-' or '\\_' between them, e.g. `thor`, `тор` or "
        "`big-thor`."
    )  # the `code` is the engine's, so it renders; the lone '_' is escaped text
    assert "\\`" not in text


async def test_a_name_in_a_refusal_stays_escaped(world: World) -> None:
    await train(world.alice, world.channel, name="rex_the_cat")

    text = reply(await train(world.alice, world.channel, name="REX_the_cat", first_seed=50)).content

    assert "You already have a pet named 'rex\\_the\\_cat'." in text  # not italics


async def test_heic_and_avif_photos_train_a_pet(world: World) -> None:
    options = {
        "name": "mia",
        "class": "cat",
        **{f"photo{i + 1}": (f"IMG_{i:04d}.HEIC", heic(i)) for i in range(3)},
        "photo4": ("IMG_0100.avif", avif(10)),
        "photo5": ("IMG_0101.avif", avif(11)),
        "photo6": ("empty.heic", b""),
    }

    text = reply(await world.alice.slash(world.channel, "train", **options)).content

    assert "**mia** (cat) is queued" in text
    assert "Training on 5 photos" in text
    assert "`empty.heic`: file is empty (0 bytes); upload it again" in text


async def test_the_message_command_takes_heic_photos(world: World, db: Database) -> None:
    posted = await world.alice.send(
        world.channel,
        "my cat",
        attachments=[(f"IMG_{i:04d}.heic", heic(20 + i)) for i in range(5)],
    )

    shown = await world.alice.context_menu(world.channel, CONTEXT_MENU_NAME, posted)
    assert shown.modal is not None
    result = await world.alice.submit_modal(shown, {"pet_name": "Mia", "pet_class": "cat"})

    assert "Training on 5 photos" in reply(result).content


def attachment(filename: str, content_type: str | None) -> discord.Attachment:
    data = {"id": 1, "filename": filename, "size": 10, "url": "u", "proxy_url": "u"}
    if content_type is not None:
        data["content_type"] = content_type
    # simcord types every upload from its name, so the untyped case is built here
    return discord.Attachment(data=data, state=SimpleNamespace(http=None))  # type: ignore[arg-type]


def test_phone_photos_pass_the_attachment_filter_by_type_or_by_name() -> None:
    for content_type in ("image/heic", "image/heif", "image/avif"):
        assert is_photo_or_zip(attachment("photo", content_type))
    for name in ("IMG_1.HEIC", "IMG_1.heif", "pic.avif"):
        assert is_photo_or_zip(attachment(name, "application/octet-stream"))
        assert is_photo_or_zip(attachment(name, None))
    assert not is_photo_or_zip(attachment("notes.txt", "text/plain"))
