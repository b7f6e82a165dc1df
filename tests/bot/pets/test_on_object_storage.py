"""/forget and /export when the files live in S3 (moto's real server): the bot reads the
pet's model from the bucket and deletes every file of the pet there."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest

from engine.orders.forgotten_copies import drop_forgotten
from engine.orders.imagine import ImagineOrder, enqueue_imagine
from engine.orders.lora_files import LORA_WEIGHTS
from engine.orders.pet_names import normalise_name
from engine.settings import Settings
from engine.storage import open_storage
from engine.store import Database, SubjectStatus, jobs, subjects
from tests.bot._world import World, bot_settings, reply, train
from tests.s3 import S3Server


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def settings(tmp_path: Path, s3_server: S3Server, bucket: str) -> Settings:
    return bot_settings(tmp_path, **s3_server.settings_fields(f"s3://{bucket}/pb"))


async def _trained_elsewhere(world: World, db: Database, settings: Settings) -> int:
    """/train, then play an engine on another machine: its LoRA and a picture reach the
    bucket only, never this bot's data dir. Returns the picture job's id."""
    await train(world.alice, world.channel)
    subject = await subjects.by_name(db, world.alice.id, normalise_name("thor"))
    assert subject is not None
    [job] = await jobs.list_jobs(db)
    storage = open_storage(settings)
    storage.put(f"jobs/{job.id}/lora/pytorch_lora_weights.safetensors", b"lora" * 1000)
    storage.put(f"jobs/{job.id}/lora/pet_kohya.safetensors", b"kohya" * 100)
    await subjects.set_status(db, subject.id, SubjectStatus.READY, lora_path=f"jobs/{job.id}/lora")
    picture = await enqueue_imagine(db, settings, ImagineOrder(world.alice.id, "TOK cat"))
    storage.put(f"outputs/{picture.job_id}/image-0.png", b"png")
    return picture.job_id


async def test_train_uploads_the_photos(
    world: World, db: Database, settings: Settings, s3_server: S3Server, bucket: str
) -> None:
    await train(world.alice, world.channel)

    subject = await subjects.by_name(db, world.alice.id, "thor")
    assert subject is not None
    stored = s3_server.keys(bucket)
    photos = await subjects.photos(db, subject.id)
    assert {f"pb/{photo.path}" for photo in photos} <= set(stored)
    assert any(key.endswith("/contact-sheet.jpg") for key in stored)


async def test_export_reads_the_model_from_the_bucket(
    world: World, db: Database, settings: Settings
) -> None:
    await _trained_elsewhere(world, db, settings)
    assert not (settings.data_dir / "jobs").exists()

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    sizes = {a.filename.endswith("-kohya.safetensors"): a.size for a in answer.attachments}
    assert sizes == {False: 4000, True: 500}  # the diffusers file and its kohya twin


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read())


async def test_export_links_a_file_over_the_upload_limit_from_the_bucket(
    world: World, db: Database, settings: Settings, s3_server: S3Server, bucket: str
) -> None:
    """A real SDXL LoRA's diffusers file (23.2 MB) is over a server's 10 MiB: with the
    files in a bucket, the owner gets a presigned link that downloads it, and the small
    kohya file attached."""
    await _trained_elsewhere(world, db, settings)
    [job] = [j for j in await jobs.list_jobs(db) if j.kind.value == "train"]
    big = b"\x01" * (25 * 1024 * 1024 + 1)  # over the 25 MiB (simulated) Discord allows
    open_storage(settings).put(f"jobs/{job.id}/lora/pytorch_lora_weights.safetensors", big)

    result = await world.alice.slash(world.channel, "export", name="thor")

    answer = reply(result)
    [kohya] = answer.attachments
    assert kohya.filename.endswith("-kohya.safetensors") and kohya.size == 500
    assert "its download link is below (it works for up to 24 hours)" in answer.content
    [linked] = [m for m in result.followups if m.id != answer.id]
    assert linked.ephemeral and linked.attachments == []
    [embed] = linked.embeds
    name = embed.title or ""
    assert name.endswith(".safetensors") and not name.endswith("-kohya.safetensors")
    url = (embed.description or "").removeprefix(f"[Download {name}](").removesuffix(")")
    assert await asyncio.to_thread(download, url) == big  # no credentials: only the link


async def test_forget_deletes_the_pets_files_in_the_bucket(
    world: World, db: Database, settings: Settings, s3_server: S3Server, bucket: str
) -> None:
    await _trained_elsewhere(world, db, settings)
    await world.alice.slash(world.channel, "export", name="thor")  # cached here too
    others = open_storage(settings)
    others.put("jobs/99/lora/pytorch_lora_weights.safetensors", b"someone else's")
    assert len(s3_server.keys(bucket)) > 4

    asked = reply(await world.alice.slash(world.channel, "forget", name="thor"))
    done = await world.alice.click(asked.message, label="Forget thor")

    assert "is forgotten" in reply(done).content
    assert s3_server.keys(bucket) == ["pb/jobs/99/lora/pytorch_lora_weights.safetensors"]
    assert not (settings.data_dir / "jobs").exists() or not any(
        (settings.data_dir / "jobs").iterdir()
    )
    assert not any((settings.data_dir / "subjects").iterdir())


async def test_forget_reaches_the_copies_in_other_machines_caches(
    world: World,
    db: Database,
    settings: Settings,
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    """An engine on another machine cached the pet's photos and LoRA: /forget here deletes
    the bucket's files and this bot's copies, and that engine drops its own at its next look
    (between jobs), keeping everyone else's."""
    await _trained_elsewhere(world, db, settings)
    subject = await subjects.by_name(db, world.alice.id, normalise_name("thor"))
    assert subject is not None
    photo_keys = [photo.path for photo in await subjects.photos(db, subject.id)]
    open_storage(settings).put("jobs/99/lora/pytorch_lora_weights.safetensors", b"another's")
    engine = bot_settings(tmp_path / "engine", **s3_server.settings_fields(f"s3://{bucket}/pb"))
    cache = open_storage(engine)
    theirs = cache.fetch("jobs/99/lora/pytorch_lora_weights.safetensors")
    mine = [cache.fetch(key) for key in [*photo_keys, f"{subject.lora_path}/{LORA_WEIGHTS}"]]
    assert theirs is not None and all(path is not None and path.exists() for path in mine)
    seen = await drop_forgotten(db, engine, 0)  # nothing forgotten yet: nothing dropped
    assert all(path is not None and path.exists() for path in mine)

    asked = reply(await world.alice.slash(world.channel, "forget", name="thor"))
    await world.alice.click(asked.message, label="Forget thor")
    assert all(path is not None and path.exists() for path in mine)  # not this process's

    assert await drop_forgotten(db, engine, seen) > seen
    assert not any(path is not None and path.exists() for path in mine)
    assert theirs.read_bytes() == b"another's"
