"""/forget and /export replies: a pet still training is named as such, a pet of any
alphabet exports under a file-safe name, forgetting a running pet says what to do."""

from __future__ import annotations

from engine.settings import Settings
from engine.store import Database, SubjectStatus, jobs, subjects
from tests.bot._world import World, reply, train


async def test_export_while_queued_says_the_pet_is_queued(world: World) -> None:
    await train(world.alice, world.channel)

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    assert answer.content == (
        "thor is queued for training, but no engine is running right now: its training "
        "starts when one does. /status shows its progress."
    )


async def test_a_cyrillic_pets_files_get_an_ascii_name(
    world: World, db: Database, settings: Settings
) -> None:
    await train(world.alice, world.channel, name="Тор")
    subject = await subjects.by_name(db, world.alice.id, "тор")
    assert subject is not None
    [job] = await jobs.list_jobs(db)
    lora = settings.job_dir(job.id) / "lora"
    lora.mkdir(parents=True)
    (lora / "pytorch_lora_weights.safetensors").write_bytes(b"lora" * 1000)
    lora_path = str(lora.relative_to(settings.data_dir))
    await subjects.set_status(db, subject.id, SubjectStatus.READY, lora_path=lora_path)

    answer = reply(await world.alice.slash(world.channel, "export", name="ТОР"))

    assert [a.filename for a in answer.attachments] == [f"pet-{subject.token}.safetensors"]
    assert answer.content.startswith("**тор** as an SDXL LoRA")


async def test_forget_while_training_says_why_and_what_to_do(world: World, db: Database) -> None:
    await train(world.alice, world.channel)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None

    answer = reply(await world.alice.slash(world.channel, "forget", name="thor"))

    assert answer.content == (
        f"thor can't be forgotten while its job {job.id} runs: `/cancel job:{job.id}` first, "
        "then /forget it."
    )
