"""/status's ETAs for pictures: learned from the last picture drawn (seconds per denoising
step of one megapixel), scaled by each queued job's count, steps and size."""

from __future__ import annotations

import pytest

from engine.orders.status import FALLBACK_PICTURE_SECONDS, build_status, picture_work
from engine.store import Database, JobKind, endings, jobs


async def queue_picture(db: Database, *, count: int, steps: int, side: int) -> int:
    params = {"count": count, "steps": steps, "width": side, "height": side}
    return await jobs.enqueue(db, JobKind.GENERATE, owner_id=1, params=params, total_steps=steps)


async def etas(db: Database) -> dict[int, float | None]:
    return {line.id: line.eta_seconds for line in (await build_status(db)).jobs}


def test_work_is_count_times_steps_times_megapixels() -> None:
    assert picture_work({"count": 2, "width": 1024, "height": 1024}, 30) == 60
    assert picture_work({"count": 1, "width": 2048, "height": 2048}, 9) == 36
    assert picture_work({}, 30) == 30  # a job queued before sizes were kept: one 1024 px


async def test_before_any_picture_the_fallback_speed_is_used(db: Database) -> None:
    job_id = await queue_picture(db, count=1, steps=30, side=1024)

    assert (await etas(db))[job_id] == pytest.approx(30 * FALLBACK_PICTURE_SECONDS)


async def test_a_drawn_picture_sets_the_speed_of_the_next_ones(db: Database) -> None:
    drawn = await queue_picture(db, count=2, steps=30, side=1024)
    assert await jobs.claim_next(db, "gpu-0", 60) is not None
    # 2 pictures x 30 steps x 1 megapixel in 6 s: 0.1 s per megapixel-step
    assert await endings.succeed(db, drawn, "gpu-0", {}, seconds_per_step=0.1)

    upscale = await queue_picture(db, count=1, steps=9, side=2048)
    small = await queue_picture(db, count=4, steps=30, side=512)

    shown = await etas(db)
    assert shown[upscale] == pytest.approx(9 * 4 * 0.1)
    assert shown[small] == pytest.approx(9 * 4 * 0.1 + 4 * 30 * 0.25 * 0.1)  # after it
