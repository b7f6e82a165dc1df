"""Vary and Upscale orders (torch-free): which delivered pictures can be redrawn, and the
job that redraws one."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine
from engine.orders.repeat import variation_order
from engine.orders.variations import picture_to_redraw
from engine.settings import Settings
from engine.store import Database, Job, JobKind, endings, jobs

ALICE, BOB = 1, 2


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, generation={"resolution": 64}, _env_file=None)


async def delivered(db: Database, settings: Settings, size: int = 64) -> Job:
    """Alice's plain-SDXL job, done: two pictures of `size` px in storage."""
    order = ImagineOrder(ALICE, "a lighthouse", count=2, seed=5, style="photo")
    queued = await enqueue_imagine(db, settings, order)
    job = await jobs.claim_next(db, "gpu-0", 60, (JobKind.GENERATE,))
    assert job is not None and job.id == queued.job_id
    files = []
    for index in range(2):
        path = settings.output_dir(job.id) / f"image-{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (size, size)).save(path)
        files.append(path.relative_to(settings.data_dir).as_posix())
    payload = {"images": 2, "seed": 5, "width": size, "height": size}
    assert await endings.succeed(db, job.id, "gpu-0", payload, files)
    return job


async def test_a_variation_is_one_new_picture_drawn_like_the_source(
    db: Database, settings: Settings
) -> None:
    source = await delivered(db, settings)
    order = await variation_order(db, settings, ALICE, source.id, 2, "strong")
    queued = await enqueue_imagine(db, settings, order)

    params = queued.params
    assert params["source_image"] == f"outputs/{source.id}/image-1.png"
    assert (params["variation"], params["source_picture"], params["strength"]) == ("strong", 2, 0.7)
    assert params["prompt"] == source.params["prompt"]  # the style's words once, not twice
    assert (params["count"], params["width"], params["seed"] != 5) == (1, 64, True)


async def test_an_upscale_doubles_the_size_and_an_upscaled_picture_is_refused(
    db: Database, settings: Settings
) -> None:
    small, large = await delivered(db, settings), await delivered(db, settings, size=128)

    upscale = await picture_to_redraw(db, settings, ALICE, small.id, 1, "upscale")
    with pytest.raises(ImagineRefused, match="already 128x128: upscaled it would be larger"):
        await picture_to_redraw(db, settings, ALICE, large.id, 1, "upscale")
    assert (upscale.width, upscale.height, upscale.tiled_vae) == (128, 128, True)


@pytest.mark.parametrize(
    ("owner", "job_offset", "picture", "reason"),
    [
        (ALICE, 100, 1, "no pictures of job"),  # gone
        (BOB, 0, 1, "not yours"),
        (ALICE, 0, 3, "has 2 picture"),
        (ALICE, 0, 0, "pick a number from 1 to 2"),
    ],
)
async def test_pictures_that_cannot_be_redrawn_are_refused(
    db: Database, settings: Settings, owner: int, job_offset: int, picture: int, reason: str
) -> None:
    source = await delivered(db, settings)
    with pytest.raises(ImagineRefused, match=reason):
        await picture_to_redraw(db, settings, owner, source.id + job_offset, picture, "subtle")


async def test_a_deleted_picture_is_refused(db: Database, settings: Settings) -> None:
    source = await delivered(db, settings)
    (settings.output_dir(source.id) / "image-0.png").unlink()  # the Delete button's work

    with pytest.raises(ImagineRefused, match=r"Picture 1 of job .* was deleted"):
        await picture_to_redraw(db, settings, ALICE, source.id, 1, "subtle")


async def test_a_job_still_drawing_is_refused(db: Database, settings: Settings) -> None:
    queued = await enqueue_imagine(db, settings, ImagineOrder(ALICE, "a lighthouse"))
    with pytest.raises(ImagineRefused, match="still being drawn"):
        await picture_to_redraw(db, settings, ALICE, queued.job_id, 1, "strong")


async def test_a_variation_job_counts_only_the_steps_img2img_runs(
    db: Database, settings: Settings
) -> None:
    source = await delivered(db, settings)
    order = await variation_order(db, settings, ALICE, source.id, 1, "subtle")
    queued = await enqueue_imagine(db, settings, order)

    job = await jobs.get(db, queued.job_id)
    assert job is not None and queued.params["steps"] == settings.generation.steps == 30
    assert job.total_steps == 10  # int(30 x 0.35): the first 20 are the picture's own
