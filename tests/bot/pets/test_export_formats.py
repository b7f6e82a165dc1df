"""/export sends the diffusers LoRA and its kohya twin (ComfyUI, A1111/Forge) in one reply."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.orders.lora_files import KOHYA_WEIGHTS, LORA_WEIGHTS
from engine.settings import Settings
from engine.store import Database, Subject, jobs, subjects
from tests.bot._world import World, reply, trained_subject


def final_lora_dir(settings: Settings, subject: Subject) -> Path:
    assert subject.lora_path is not None
    return settings.data_dir / subject.lora_path


async def test_export_attaches_both_formats_and_says_which_is_which(
    world: World, db: Database, settings: Settings
) -> None:
    subject = await trained_subject(world, db, settings)
    (final_lora_dir(settings, subject) / KOHYA_WEIGHTS).write_bytes(b"kohya" * 1000)

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    assert answer.ephemeral
    diffusers, kohya = answer.attachments
    assert (diffusers.filename, diffusers.size) == (f"thor-{subject.token}.safetensors", 4000)
    assert (kohya.filename, kohya.size) == (f"thor-{subject.token}-kohya.safetensors", 5000)
    assert f"`thor-{subject.token}.safetensors`: diffusers (`load_lora_weights`)" in (
        answer.content
    )
    assert (
        f"`thor-{subject.token}-kohya.safetensors`: ComfyUI, A1111/Forge (kohya format, fp16; "
        "diffusers loads it too)" in answer.content
    )
    assert "missing" not in answer.content


async def test_a_pet_trained_before_kohya_export_gets_its_diffusers_file_and_a_note(
    world: World, db: Database, settings: Settings
) -> None:
    subject = await trained_subject(world, db, settings)  # writes no kohya file

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    [diffusers] = answer.attachments
    assert diffusers.filename == f"thor-{subject.token}.safetensors"
    assert "kohya-format file for ComfyUI and A1111/Forge is missing" in answer.content
    assert "Train the pet again to get it." in answer.content


@pytest.mark.parametrize("how", ["picked by the owner", "recommended by the scores"])
async def test_export_of_the_step_in_use_sends_that_checkpoints_two_files(
    world: World, db: Database, settings: Settings, how: str
) -> None:
    """/export hands over what /imagine draws with: the owner's pick, else the recommended
    step (while that checkpoint is kept)."""
    subject = await trained_subject(world, db, settings)
    (final_lora_dir(settings, subject) / KOHYA_WEIGHTS).write_bytes(b"final kohya")
    [job] = await jobs.list_jobs(db)
    step_dir = settings.job_dir(job.id) / "checkpoints" / "step-000200"
    step_dir.mkdir(parents=True)
    (step_dir / LORA_WEIGHTS).write_bytes(b"d" * 200)
    (step_dir / KOHYA_WEIGHTS).write_bytes(b"k" * 300)
    if how == "picked by the owner":
        await subjects.choose_checkpoint(db, subject.id, 200)
    else:
        await db.execute("UPDATE subjects SET recommended_step = 200 WHERE id = ?", (subject.id,))

    answer = reply(await world.alice.slash(world.channel, "export", name="thor"))

    assert [a.size for a in answer.attachments] == [200, 300]
    assert "as an SDXL LoRA at step 200" in answer.content


async def test_files_that_fit_only_alone_come_one_per_message(
    world: World, db: Database, settings: Settings
) -> None:
    """A rank-4 SDXL LoRA: 23.2 MB (fp32, diffusers) and 11.6 MB (fp16, kohya). Under the
    25 MiB that Discord gives this interaction each fits, together they don't: one message
    each (a server without boosts gets 10 MiB: then neither fits, see test_cog)."""
    subject = await trained_subject(world, db, settings)
    (final_lora_dir(settings, subject) / LORA_WEIGHTS).write_bytes(b"\0" * 23_224_320)
    (final_lora_dir(settings, subject) / KOHYA_WEIGHTS).write_bytes(b"\0" * 11_612_160)

    result = await world.alice.slash(world.channel, "export", name="thor")

    messages = [reply(result), *(m for m in result.followups if m.id != reply(result).id)]
    assert [[a.size for a in m.attachments] for m in messages] == [[23_224_320], [11_612_160]]
    assert all(m.ephemeral for m in messages)
    assert "kohya format" in messages[0].content  # the first says what both are
