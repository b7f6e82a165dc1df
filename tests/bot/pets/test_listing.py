"""/pets: each of your pets with its status, the model in use and its contact sheet."""

from __future__ import annotations

import io

from PIL import Image

from engine.settings import Settings
from engine.store import Database, Job, JobKind, endings, jobs
from tests.bot._world import World, reply, train


async def trained_thor(world: World, db: Database, recommended_step: int | None = None) -> Job:
    """/train thor, then play the engine: its training succeeded."""
    await train(world.alice, world.channel, name="thor")
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    await endings.succeed(
        db, job.id, "gpu-0", {}, lora_path="jobs/1/lora", recommended_step=recommended_step
    )
    return job


async def test_pets_lists_each_pet_with_its_state_model_and_contact_sheet(
    world: World, db: Database, settings: Settings
) -> None:
    await trained_thor(world, db, recommended_step=2)
    await train(world.alice, world.channel, name="loki", first_seed=20)

    answer = reply(await world.alice.slash(world.channel, "pets"))

    assert answer.ephemeral
    thor, loki = (embed.to_dict() for embed in answer.embeds)
    assert thor["title"] == "thor (cat)" and thor["description"] == "ready · 5 photos"
    assert thor["fields"][0]["value"] == "step 2, recommended: best likeness"
    assert loki["description"] == "queued · 5 photos" and "fields" not in loki
    names = sorted(a.filename for a in answer.attachments)
    assert names == ["pet1-sheet.jpg", "pet2-sheet.jpg"]


async def test_pets_shows_a_pets_latest_pictures_as_one_grid(
    world: World, db: Database, settings: Settings
) -> None:
    training = await trained_thor(world, db)
    for count in (3, 2):  # the newest job's two, then one of the older job's three
        job_id = await jobs.enqueue(
            db, JobKind.GENERATE, owner_id=world.alice.id, subject_id=training.subject_id
        )
        job = await jobs.claim_next(db, "gpu-0", 60)
        assert job is not None and job.id == job_id
        files = []
        for index in range(count):
            path = settings.output_dir(job_id) / f"image-{index}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (64, 96), (40 * index, 90, 200)).save(path)
            files.append(settings.data_relative(path))
        await endings.succeed(db, job_id, "gpu-0", {"images": count}, files)

    answer = reply(await world.alice.slash(world.channel, "pets"))

    [thor] = (embed.to_dict() for embed in answer.embeds)
    assert thor["image"]["url"] == "attachment://pet1-latest.jpg"
    [latest] = [a for a in answer.attachments if a.filename == "pet1-latest.jpg"]
    with Image.open(io.BytesIO(await latest.read())) as grid:
        assert grid.format == "JPEG" and grid.size == (512, 512)  # 2 x 2 tiles of 256 px
