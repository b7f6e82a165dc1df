"""/imagine's LoRA scale: checked with the other options, stored in the job's params."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.generation.request import GenerateRequest
from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine
from engine.settings import Settings
from engine.store import Database, SubjectStatus, jobs, subjects

REFUSAL = (
    "LoRA scale must be between 0 and 1.5: 1 is normal, lower (e.g. 0.7) if pictures look "
    "overcooked, higher if they look little like your pet."
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with await Database.open(settings.database_path) as database:
        async with database.transaction() as tx:
            thor = await subjects.create_tx(tx, owner_id=1, name="thor", class_noun="cat")
        await subjects.set_status(database, thor.id, SubjectStatus.READY, lora_path="x")
        yield database


@pytest.mark.parametrize("scale", [-0.1, 1.51, 100.0, float("nan"), float("inf")])
async def test_a_scale_outside_0_to_1_5_is_refused_with_what_to_pick(
    db: Database, settings: Settings, scale: float
) -> None:
    with pytest.raises(ImagineRefused) as refused:
        await enqueue_imagine(db, settings, ImagineOrder(1, "TOK cat", lora_scale=scale))

    assert refused.value.reasons == [REFUSAL]
    assert await jobs.list_jobs(db) == []


@pytest.mark.parametrize("scale", [0.0, 0.6, 1.5])
async def test_the_scale_is_stored_in_the_params_and_read_into_the_request(
    db: Database, settings: Settings, scale: float
) -> None:
    queued = await enqueue_imagine(db, settings, ImagineOrder(1, "TOK cat", lora_scale=scale))

    job = await jobs.get(db, queued.job_id)
    assert job is not None and job.params["lora_scale"] == scale
    assert GenerateRequest.from_params(job.params, Path("lora"), "thor").lora_scale == scale


async def test_an_order_without_a_scale_stores_1(db: Database, settings: Settings) -> None:
    queued = await enqueue_imagine(db, settings, ImagineOrder(1, "TOK cat"))

    assert queued.params["lora_scale"] == 1.0


async def test_a_job_queued_before_the_scale_existed_draws_at_1(
    db: Database, settings: Settings
) -> None:
    queued = await enqueue_imagine(db, settings, ImagineOrder(1, "TOK cat", lora_scale=0.5))
    old_params = {k: v for k, v in queued.params.items() if k != "lora_scale"}

    assert GenerateRequest.from_params(old_params, Path("lora"), "thor").lora_scale == 1.0
