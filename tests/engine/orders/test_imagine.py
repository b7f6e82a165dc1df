"""Queueing /imagine: subject choice, TOK substitution, limits, fixed seeds (torch-free)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine, put_token, size_for
from engine.settings import Settings
from engine.store import Database, JobKind, SubjectStatus, jobs, subjects


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, max_queued_generations_per_user=2, _env_file=None)


async def add_subject(db: Database, owner: int, name: str, ready: bool = True):
    async with db.transaction() as tx:
        subject = await subjects.create_tx(tx, owner_id=owner, name=name, class_noun="cat")
    if ready:
        await subjects.set_status(db, subject.id, SubjectStatus.READY, lora_path="x")
    return await subjects.get(db, subject.id)


async def test_tok_is_replaced_as_a_whole_word_in_any_case(db: Database) -> None:
    thor = await add_subject(db, 1, "thor")
    assert put_token("photo of TOK cat, tok in TOKYO", thor) == (
        f"photo of {thor.token} cat, {thor.token} in TOKYO"
    )
    assert put_token("a cat on a skateboard", thor) == f"a {thor.token} cat on a skateboard"
    assert put_token("on the moon", thor) == f"a photo of {thor.token} cat, on the moon"


async def test_prompt_without_subject_uses_latest_ready(db: Database, settings: Settings) -> None:
    await add_subject(db, 1, "thor")
    loki = await add_subject(db, 1, "loki")
    await add_subject(db, 1, "fenrir", ready=False)
    queued = await enqueue_imagine(db, settings, ImagineOrder(1, "TOK cat on a skateboard"))
    assert queued.subject is not None and queued.subject.id == loki.id
    job = await jobs.get(db, queued.job_id)
    assert job is not None and job.kind is JobKind.GENERATE and job.subject_id == loki.id
    assert job.params["prompt"] == f"{loki.token} cat on a skateboard"
    assert 0 <= job.params["seed"] < 2**32 and job.params["steps"] == 30


async def test_tok_without_ready_subject_is_refused(db: Database, settings: Settings) -> None:
    await add_subject(db, 1, "thor", ready=False)
    with pytest.raises(ImagineRefused, match="thor is not trained yet"):
        await enqueue_imagine(db, settings, ImagineOrder(1, "TOK cat"))
    with pytest.raises(ImagineRefused, match="thor is not trained yet"):
        await enqueue_imagine(db, settings, ImagineOrder(1, "TOK cat", subject_name="thor"))
    # no TOK and no subject: plain SDXL, no LoRA
    plain = await enqueue_imagine(db, settings, ImagineOrder(1, "a lighthouse at dusk"))
    assert plain.subject is None and plain.params["prompt"] == "a lighthouse at dusk"


async def test_another_users_subject_is_unknown(db: Database, settings: Settings) -> None:
    await add_subject(db, 1, "thor")
    with pytest.raises(ImagineRefused, match="no pet named 'thor'"):
        await enqueue_imagine(db, settings, ImagineOrder(2, "TOK cat", subject_name="thor"))


async def test_bad_options_are_all_reported(db: Database, settings: Settings) -> None:
    order = ImagineOrder(1, "x" * 1001, count=9, steps=0, seed=-1, aspect="circle")
    with pytest.raises(ImagineRefused) as refused:
        await enqueue_imagine(db, settings, order)
    assert len(refused.value.reasons) == 5
    with pytest.raises(ImagineRefused, match="empty"):
        await enqueue_imagine(db, settings, ImagineOrder(1, "   "))


async def test_per_user_queue_limit(db: Database, settings: Settings) -> None:
    for _ in range(2):
        await enqueue_imagine(db, settings, ImagineOrder(1, "a dog", seed=5))
    with pytest.raises(ImagineRefused, match="limit is 2"):
        await enqueue_imagine(db, settings, ImagineOrder(1, "a dog"))
    await enqueue_imagine(db, settings, ImagineOrder(2, "a dog"))  # others unaffected


def test_sizes_are_sdxl_native_and_scale() -> None:
    assert size_for("square", 1024) == (1024, 1024)
    assert size_for("wide", 1024) == (1344, 768)
    assert size_for("portrait", 64) == (56, 72)
