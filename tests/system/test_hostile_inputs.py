"""Hostile input through the real bot: every case gets a specific, private answer, nothing
crashes, nothing is written outside the data dir, no reply pings anyone, and the user can
still /train afterwards."""

from __future__ import annotations

import asyncio
import logging
import re
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import simcord

from bot.client import PetBooth
from bot.errors import GENERIC_FAILURE, UserError
from bot.imagine._orders import queue_order
from engine.intake import Upload
from engine.orders.enrolment import Enrolled, EnrollmentRefused, TrainingOrder, enrol_subject
from engine.orders.imagine import ImagineOrder, ImagineQueued
from engine.settings import GenerationDefaults, Settings
from engine.store import Database, EventKind, JobKind, events, jobs, subjects
from tests.bot._world import (
    Trial,
    World,
    bot_messages,
    bot_settings,
    photos,
    reply,
    train,
    trained_subject,
)
from tests.samples import encode, jpeg, png_header, scene, zip_of

PROMPT_CAP = 300  # below the option's 1000, so the bot's own check is reached


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return bot_settings(
        tmp_path,
        max_zip_bytes=256 * 1024,
        max_zip_members=30,
        generation=GenerationDefaults(max_prompt_chars=PROMPT_CAP),
    )


# ---------------------------------------------------------------------------------------
# Hostile bytes


def good(count: int = 4, first_seed: int = 0) -> dict[str, tuple[str, bytes]]:
    """Fewer good photos than /train needs, so the hostile file decides the outcome and
    the refusal lists it."""
    return photos(count, first_seed)


def lying_zip_bomb() -> bytes:
    """2 MB of zeros (2 KB compressed) whose headers claim 100 bytes."""
    archive = bytearray(zip_of([("cat.jpg", b"\0" * (2 * 1024 * 1024))]))
    struct.pack_into("<I", archive, 22, 100)  # local header: uncompressed size
    central = archive.index(b"PK\x01\x02")
    struct.pack_into("<I", archive, central + 24, 100)  # central directory: the same
    return bytes(archive)


def nested_zip() -> bytes:
    """A .zip inside the .zip."""
    return zip_of([("inner.zip", zip_of([("cat.jpg", jpeg(64, (96, 96)))]))])


def encrypted_member() -> bytes:
    """A member flagged as encrypted (zipfile writes none, so the flag is set by hand)."""
    archive = bytearray(zip_of([("secret.jpg", jpeg(60, (96, 96)))]))
    struct.pack_into("<H", archive, 6, 0x1)  # local header: general purpose flags
    central = archive.index(b"PK\x01\x02")
    struct.pack_into("<H", archive, central + 8, 0x1)  # central directory: the same
    return bytes(archive)


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\0" * 200
PE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 56 + b"PE\0\0" + b"\0" * 200
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


# ---------------------------------------------------------------------------------------
# Cases: each drives the bot and checks what the person was told. The harness checks
# the rest (no crash, no stray files, no pings, /train still works).


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[Trial], Awaitable[None]]
    train_after: bool = True  # alice can /train a fresh pet afterwards


CASES: list[Case] = []


def case(id: str, *, train_after: bool = True) -> Callable[..., Callable[[Trial], Awaitable[None]]]:
    def register(run: Callable[[Trial], Awaitable[None]]) -> Callable[[Trial], Awaitable[None]]:
        CASES.append(Case(id, run, train_after))
        return run

    return register


def said(result: simcord.InteractionResult, *words: str) -> str:
    """The private reply, checked to contain each of ``words``."""
    answer = reply(result)
    assert answer.ephemeral, answer
    for word in words:
        assert word in answer.content, (word, answer.content)
    return answer.content


async def train_with(t: Trial, hostile: dict[str, tuple[str, bytes]], **fields: str) -> str:
    options = {"name": "thor", "class": "cat", **good(), **fields, **hostile}
    return said(await t.world.alice.slash(t.world.channel, "train", **options))


def unusable_file(
    id: str, filename: str, data: bytes, *words: str, shown_as: str | None = None
) -> None:
    """/train with 4 good photos and this one: refused, naming the file and why."""

    async def run(t: Trial) -> None:
        text = await train_with(t, {"photo5": (filename, data)})
        assert text.startswith("Training not queued:"), text
        assert "Files I could not use:" in text
        assert f"`{shown_as or filename}`" in text, text
        for word in words:
            assert word in text, (word, text)
        assert await jobs.list_jobs(t.db) == []

    case(id)(run)


def unusable_member(id: str, archive: str, data: bytes, member: str, *words: str) -> None:
    """/train with a .zip refused for one member: the reply names it inside the archive."""
    unusable_file(id, archive, data, *words, shown_as=f"{archive}/{member}")


def zip_slip(id: str, member: str, seed: int, shown: str) -> None:
    """A photo stored in a .zip under a name that points outside it."""
    archive = zip_of([(member, jpeg(seed, (96, 96)))])
    unusable_member(id, "pets.zip", archive, shown, "escapes the archive")


unusable_file("corrupt-jpeg", "cat.jpg", b"\xff\xd8\xff\xe0" + b"\x13\x37" * 400, "not an image")
unusable_file(
    "truncated-png",
    "cat.png",
    encode(scene(70, (96, 96)), "PNG")[:600],
    "damaged image",
    "truncated",
)
unusable_file("zero-byte", "empty.jpg", b"", "is empty (0 bytes)")
unusable_file(
    "over-size-cap", "huge.jpg", b"\xff" * (65 * 1024), "64 KB limit per file", "65 KB is over"
)
unusable_file(
    "decompression-bomb", "bomb.png", png_header(20_000, 20_000), "decompression-bomb guard"
)
unusable_file(
    "pixel-count-over-limit", "big.png", png_header(8_000, 8_000), "8000x8000", "too large"
)
unusable_file("text-as-jpg", "notes.jpg", b"just some text\n" * 20, "not an image")
unusable_file("elf-as-jpg", "cat.jpg", ELF, "not an image")
unusable_file("pe-as-jpg", "cat.exe.jpg", PE, "not an image")
unusable_file("html-as-jpg", "page.jpg", HTML, "not an image")
unusable_file(
    "gif", "cat.gif", encode(scene(71, (96, 96)), "GIF"), "unsupported image format GIF", "JPEG"
)
unusable_file("rar-archive", "pets.rar", b"Rar!\x1a\x07\x00" + b"\0" * 64, "RAR archives")
unusable_file(
    "zip-bomb-declared",
    "bomb.zip",
    zip_of([("cat.jpg", b"\0" * (8 * 1024 * 1024))]),
    "zip archive too large",
    "8 MB",
)
unusable_member(
    "zip-bomb-lying-header", "bomb.zip", lying_zip_bomb(), "cat.jpg", "damaged zip member"
)
zip_slip("zip-slip-dotdot", "../../evil.jpg", 61, "evil.jpg")
zip_slip("zip-slip-absolute", "/etc/x.jpg", 62, "x.jpg")
zip_slip("zip-slip-drive-letter", "C:\\x.jpg", 63, "x.jpg")
unusable_member("nested-zip", "pets.zip", nested_zip(), "inner.zip", "nested archives")
unusable_member(
    "encrypted-zip-member", "locked.zip", encrypted_member(), "secret.jpg", "password-protected"
)
unusable_file(
    "zip-too-many-members",
    "many.zip",
    zip_of([(f"{i}.jpg", b"x") for i in range(31)]),
    "31 files; at most 30",
)
unusable_file("damaged-zip", "broken.zip", b"PK\x03\x04" + b"\x01" * 100, "damaged zip archive")
unusable_file("empty-name", "", b"not a photo", "not an image", shown_as="unnamed file")
unusable_file("emoji-name", "🐱🐶.jpg", b"not a photo", "not an image")


@case("rtl-override-name")
async def _rtl_name(t: Trial) -> None:
    text = await train_with(t, {"photo5": ("cat\u202egpj.exe", b"MZ")})
    assert "`catgpj.exe`: not an image" in text
    assert "\u202e" not in text


@case("path-traversal-attachment")
async def _traversal_attachment(t: Trial) -> None:
    text = await train_with(t, {"photo5": ("../../../etc/passwd.jpg", b"root:x:0:0")})
    assert "`passwd.jpg`" in text and "../" not in text


@case("overlong-filename")
async def _long_filename(t: Trial) -> None:
    text = await train_with(t, {"photo5": ("a" * 296 + ".jpg", b"not a photo")})
    assert "…" in text and ".jpg`: not an image" in text
    assert "a" * 100 not in text


@case("markdown-and-mentions-in-filename")
async def _mention_filename(t: Trial) -> None:
    text = await train_with(t, {"photo5": ("@everyone <@&123456789012345678> `x`.jpg", b"no")})
    assert "@everyone" not in text.replace("@\u200beveryone", "")
    assert "\\`x\\`.jpg" in text


def bad_name(id: str, field: str, value: str, *words: str) -> None:
    async def run(t: Trial) -> None:
        text = await train_with(t, {}, **{field: value})
        for word in words:
            assert word in text, (word, text)
        assert value.strip() == "" or value not in text  # never echoed back raw

    case(id)(run)


NAME_RULE = "Use 1-32 letters or digits"
CLASS_RULE = "Class must be a plain noun"
BAD_NAMES = {  # case id: a pet name /train refuses
    "name-emoji": "🐱",
    "name-path-traversal": "../../etc",
    "name-windows-path": "..\\..\\x",
    "name-whitespace": "   ",
    "name-everyone": "@everyone",
    "name-user-mention": "<@123456789012345678>",
    "name-backticks": "`rm -rf`",
    "name-rtl-override": "thor\u202eevil",
}
BAD_CLASSES = {  # case id: a class noun /train refuses
    "class-here": "@here",
    "class-unicode": "猫",
    "class-whitespace": "  ",
    "class-markdown": "**cat**",
}
for case_id, value in BAD_NAMES.items():
    bad_name(case_id, "name", value, NAME_RULE)
for case_id, value in BAD_CLASSES.items():
    bad_name(case_id, "class", value, CLASS_RULE)


async def imagine(t: Trial, **options: object) -> simcord.InteractionResult:
    return await t.world.alice.slash(t.world.channel, "imagine", **options)


@case("prompt-whitespace")
async def _blank_prompt(t: Trial) -> None:
    said(await imagine(t, prompt="   "), "The prompt is empty", "TOK cat on a beach")


@case("prompt-over-cap")
async def _long_prompt(t: Trial) -> None:
    said(await imagine(t, prompt="x" * 500), f"500 characters; the limit is {PROMPT_CAP}")


@case("negative-over-cap")
async def _long_negative(t: Trial) -> None:
    result = await imagine(t, prompt="a cat", negative="y" * 500)
    said(result, f"negative prompt is over {PROMPT_CAP} characters")


@case("count-over-max")
async def _count(t: Trial) -> None:
    said(await imagine(t, prompt="a cat", count=8), "Count must be between 1 and 4")


@case("imagine-subject-mention")
async def _subject_mention(t: Trial) -> None:
    text = said(await imagine(t, prompt="a cat", subject="@everyone"), "You have no pet named")
    assert "@everyone" not in text.replace("@\u200beveryone", "")


@case("imagine-subject-backticks")
async def _subject_backticks(t: Trial) -> None:
    text = said(await imagine(t, prompt="a cat", subject="`x` **y**"), "You have no pet named")
    assert "named `'x' **y**`." in text  # one code span: nothing in it renders


@case("imagine-subject-overlong")
async def _subject_long(t: Trial) -> None:
    text = said(await imagine(t, prompt="a cat", subject="z" * 3000), "You have no pet named")
    assert len(text) < 200


@case("imagine-subject-path-traversal")
async def _subject_traversal(t: Trial) -> None:
    said(await imagine(t, prompt="a cat", subject="../../etc/passwd"), "You have no pet named")


@case("imagine-flood", train_after=True)
async def _imagine_flood(t: Trial) -> None:
    answers = [reply(await imagine(t, prompt=f"a cat, take {i}")).content for i in range(20)]
    limit = t.settings.max_queued_generations_per_user
    assert sum(a.startswith("Queued 1 picture") for a in answers) == limit
    assert all(f"the limit is {limit}" in a for a in answers[limit:])
    assert len(await jobs.list_jobs(t.db)) == limit


@case("train-flood", train_after=False)
async def _train_flood(t: Trial) -> None:
    answers = [
        reply(await train(t.world.alice, t.world.channel, name=f"pet{i}", first_seed=10 * i))
        for i in range(5)
    ]
    assert "is queued" in answers[0].content
    for answer in answers[1:]:
        assert answer.ephemeral and "already have a training in progress" in answer.content
    assert len(await jobs.list_jobs(t.db)) == 1


async def test_a_concurrent_burst_of_imagine_stays_within_the_queue_limit(
    env: simcord.Env, world: World, db: Database, settings: Settings
) -> None:
    """simcord runs one interaction at a time; Discord does not. The orders go in the way
    the command and the buttons send them, all at once."""
    bot = cast(PetBooth, env.bot)
    orders = [ImagineOrder(owner_id=world.alice.id, prompt=f"a cat, take {i}") for i in range(20)]

    results = await asyncio.gather(*(queue_order(bot, o) for o in orders), return_exceptions=True)

    limit = settings.max_queued_generations_per_user
    assert sum(isinstance(r, ImagineQueued) for r in results) == limit
    refused = [r for r in results if not isinstance(r, ImagineQueued)]
    assert all(isinstance(r, UserError) and f"the limit is {limit}" in str(r) for r in refused)
    assert len(await jobs.list_jobs(db)) == limit


async def test_a_concurrent_burst_of_train_queues_one_training(
    env: simcord.Env, world: World, db: Database
) -> None:
    bot = cast(PetBooth, env.bot)
    bursts = [  # without the bot's per-user lock: the store's write transaction alone holds
        enrol_subject(
            bot.db,
            bot.settings,
            TrainingOrder(owner_id=world.alice.id, name=f"pet{i}", class_noun="cat"),
            [Upload(name, data) for name, data in photos(5, first_seed=10 * i).values()],
        )
        for i in range(5)
    ]

    results = await asyncio.gather(*bursts, return_exceptions=True)

    assert sum(isinstance(r, Enrolled) for r in results) == 1
    refused = [r for r in results if not isinstance(r, Enrolled)]
    assert all(isinstance(r, EnrollmentRefused) for r in refused), refused
    assert all("already have a training in progress" in str(r) for r in refused)
    assert len(await jobs.list_jobs(db)) == 1


# Another user's pet, named in every command and button that takes one: the refusal is the
# same as for a pet that does not exist, and shows nothing of alice's.


async def alice_ready(t: Trial) -> str:
    subject = await trained_subject(t.world, t.db, t.settings)
    return subject.token


def reveals_nothing(text: str, token: str) -> None:
    assert token not in text and "cat" not in text.replace("/imagine", "")


@case("other-users-pet-imagine", train_after=False)
async def _other_imagine(t: Trial) -> None:
    token = await alice_ready(t)
    result = await t.world.bob.slash(t.world.channel, "imagine", prompt="TOK", subject="thor")
    reveals_nothing(said(result, "You have no pet named"), token)


@case("other-users-pet-forget", train_after=False)
async def _other_forget(t: Trial) -> None:
    token = await alice_ready(t)
    result = await t.world.bob.slash(t.world.channel, "forget", name="thor")
    reveals_nothing(said(result, "You have no pet named"), token)
    assert await subjects.by_name(t.db, t.world.alice.id, "thor") is not None


@case("other-users-pet-export", train_after=False)
async def _other_export(t: Trial) -> None:
    token = await alice_ready(t)
    result = await t.world.bob.slash(t.world.channel, "export", name="thor")
    reveals_nothing(said(result, "You have no pet named"), token)
    assert reply(result).attachments == []


@case("other-users-job-cancel", train_after=False)
async def _other_cancel(t: Trial) -> None:
    await alice_ready(t)
    [job] = await jobs.list_jobs(t.db)
    result = await t.world.bob.slash(t.world.channel, "cancel", job=job.id)
    said(result, f"You have no job {job.id}")
    assert (await jobs.get(t.db, job.id)) == job


@case("other-users-preview-button", train_after=False)
async def _other_step(t: Trial) -> None:
    await alice_ready(t)
    [job] = await jobs.list_jobs(t.db)
    await events.append_event(t.db, job.id, EventKind.PREVIEW, {"step": 100})
    await t.env.advance_time(t.settings.delivery_poll_seconds + 1)
    preview = bot_messages(t.world.channel)[-1]
    said(await t.world.bob.click(preview, label="Use step 100"), "Only the pet's owner")
    subject = await subjects.by_name(t.db, t.world.alice.id, "thor")
    assert subject is not None and subject.chosen_step is None


@case("other-users-picture-buttons", train_after=False)
async def _other_pictures(t: Trial) -> None:
    await alice_ready(t)
    said(await imagine(t, prompt="TOK on a skateboard", seed=7))
    job = await jobs.claim_next(t.db, "gpu-0", 60)
    assert job is not None and job.kind is JobKind.GENERATE
    await events.append_event(t.db, job.id, EventKind.DONE, {"seed": 7, "images": 0})
    await t.env.advance_time(t.settings.delivery_poll_seconds + 1)
    posted = bot_messages(t.world.channel)[-1]
    before = await jobs.list_jobs(t.db)
    for label in ("Reroll", "More like these", "Delete"):
        said(await t.world.bob.click(posted, label=label), "Only the person who asked")
    assert await jobs.list_jobs(t.db) == before
    assert posted.id in [m.id for m in bot_messages(t.world.channel)]


# ---------------------------------------------------------------------------------------
# The harness


def files_outside(root: Path, data_dir: Path) -> set[Path]:
    return {p for p in root.rglob("*") if not p.is_relative_to(data_dir)}


STRAY_NAMES = {"evil.jpg", "x.jpg", "passwd.jpg", "passwd", "etc", "secret.jpg", "inner.zip"}


def named_after_uploads(root: Path) -> list[Path]:
    """Files or folders named like an upload or a traversal target: none may exist."""
    return [p for p in root.rglob("*") if p.name in STRAY_NAMES]


def no_pings(env: simcord.Env) -> None:
    """No message from the bot pinged a role, everyone, or any user other than the owner a
    delivered result opens with (`<@owner> thor is ready ...`)."""
    bot_id = env.bot.user.id if env.bot.user else None
    for channel in env.backend.messages.values():
        for message in channel.values():
            if message.author_id != bot_id:
                continue
            opener = re.match(r"<@(\d+)>", message.content)
            owner = {int(opener.group(1))} if opener else set()
            assert set(message.ping_user_ids) <= owner, message.content
            assert not message.ping_role_ids, message.content
            assert not message.mention_everyone, message.content
            assert GENERIC_FAILURE not in message.content


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
async def test_hostile_input_gets_a_specific_private_answer(
    hostile: Case,
    trial: Trial,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative write would land here, outside the data dir
    caplog.set_level(logging.WARNING)
    outside = files_outside(tmp_path, trial.settings.data_dir)

    await hostile.run(trial)

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    no_pings(trial.env)
    assert files_outside(tmp_path, trial.settings.data_dir) == outside
    assert named_after_uploads(tmp_path) == []
    if hostile.train_after:
        fresh = {"name": "rex", "class": "dog", **photos(5, first_seed=200)}
        result = await trial.world.alice.slash(trial.world.channel, "train", **fresh)
        assert "**rex** (dog) is queued" in said(result)


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("train", {"name": "x" * 33, "class": "cat"}),
        ("train", {"name": "", "class": "cat"}),
        ("train", {"name": "thor", "class": "c" * 300}),
        ("imagine", {"prompt": "x" * 1001}),
        ("imagine", {"prompt": ""}),
        ("imagine", {"prompt": "a cat", "negative": "n" * 1001}),
        ("imagine", {"prompt": "a cat", "count": 0}),
        ("imagine", {"prompt": "a cat", "count": 9}),
        ("imagine", {"prompt": "a cat", "steps": 101}),
        ("imagine", {"prompt": "a cat", "seed": -1}),
        ("imagine", {"prompt": "a cat", "seed": 2**32}),
    ],
    ids=[
        "train-name-overlong",
        "train-name-empty",
        "train-class-overlong",
        "imagine-prompt-overlong",
        "imagine-prompt-empty",
        "imagine-negative-overlong",
        "imagine-count-zero",
        "imagine-count-nine",
        "imagine-steps-over",
        "imagine-seed-negative",
        "imagine-seed-over",
    ],
)
async def test_values_outside_the_options_never_reach_the_bot(
    command: str, options: dict[str, object], world: World, db: Database
) -> None:
    """Discord itself refuses them: the option limits are declared to it."""
    if command == "train":
        options = {**options, **photos(5)}
    with pytest.raises(simcord.OptionError):
        await world.alice.slash(world.channel, command, **options)
    assert await jobs.list_jobs(db) == []
