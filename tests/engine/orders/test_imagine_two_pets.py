"""Queueing a picture of two pets: TOK1 / TOK2, the second pet's checks, and the job the
engine draws from (torch-free, both store backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.generation.job import GenerationRefusedError, build_request
from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine
from engine.settings import Settings
from engine.store import Database, Subject, SubjectStatus, jobs, subjects


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None)


async def add_pet(
    db: Database, owner: int, name: str, class_noun: str = "cat", ready: bool = True
) -> Subject:
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=owner, name=name, class_noun=class_noun)
    if ready:
        await subjects.set_status(db, pet.id, SubjectStatus.READY, lora_path=f"loras/{name}")
    found = await subjects.get(db, pet.id)
    assert found is not None
    return found


async def test_tok1_and_tok2_become_each_pets_token(db: Database, settings: Settings) -> None:
    thor, rex = await add_pet(db, 1, "thor"), await add_pet(db, 1, "rex", "dog")
    order = ImagineOrder(1, "TOK1 cat chasing tok2 dog", subject_name="thor", with_pet="Rex")

    queued = await enqueue_imagine(db, settings, order)

    assert queued.params["prompt"] == f"{thor.token} cat chasing {rex.token} dog"
    assert queued.second is not None and queued.second.id == rex.id
    job = await jobs.get(db, queued.job_id)
    assert job is not None and job.subject_id == thor.id
    assert job.params["with_subject_id"] == rex.id


async def test_a_prompt_naming_neither_pet_gets_both(db: Database, settings: Settings) -> None:
    thor, rex = await add_pet(db, 1, "thor"), await add_pet(db, 1, "rex", "dog")
    order = ImagineOrder(1, "asleep on a sofa", with_pet="rex")  # first: latest ready but rex

    queued = await enqueue_imagine(db, settings, order)

    assert queued.subject is not None and queued.subject.id == thor.id
    assert queued.params["prompt"] == (
        f"a photo of {thor.token} cat and {rex.token} dog, asleep on a sofa"
    )


REFUSED = [
    (ImagineOrder(1, "TOK1 and TOK2", "thor", with_pet="THOR"), "thor is already the first"),
    (ImagineOrder(1, "TOK1 and TOK2", "thor", with_pet="odin"), "no pet named 'odin'"),
    (ImagineOrder(1, "TOK1 and TOK2", "thor", with_pet="loki"), "loki is not trained yet"),
    (ImagineOrder(1, "TOK1 and TOK2", "thor", with_pet="fenrir"), "no pet named 'fenrir'"),
    (ImagineOrder(1, "TOK cat on a bed", "thor", with_pet="rex"), "Write TOK2 where"),
    (ImagineOrder(1, "TOK2 on a bed", "thor"), "no second pet is chosen"),
]


async def test_two_pets_are_refused_in_words(db: Database, settings: Settings) -> None:
    await add_pet(db, 1, "thor")
    await add_pet(db, 1, "rex", "dog")
    await add_pet(db, 1, "loki", ready=False)
    await add_pet(db, 2, "fenrir")  # someone else's pet

    for order, refusal in REFUSED:  # one store for all: each refusal queues nothing
        with pytest.raises(ImagineRefused, match=refusal):
            await enqueue_imagine(db, settings, order)
    assert await jobs.list_jobs(db, owner_id=1) == []


async def test_the_engine_refuses_a_picture_whose_second_pet_was_deleted(
    db: Database, settings: Settings
) -> None:
    await add_pet(db, 1, "thor")
    rex = await add_pet(db, 1, "rex", "dog")
    queued = await enqueue_imagine(db, settings, ImagineOrder(1, "play", with_pet="rex"))
    job = await jobs.get(db, queued.job_id)
    assert job is not None
    drawn = await build_request(db, settings, job)
    assert drawn.second_subject == "rex" and drawn.second_lora is not None

    await subjects.delete(db, rex.id)  # /forget rex: the job is thor's and stays queued

    with pytest.raises(GenerationRefusedError, match="The second pet was deleted"):
        await build_request(db, settings, job)
