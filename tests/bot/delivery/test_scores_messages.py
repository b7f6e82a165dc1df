"""Scores in Discord: each preview message shows its checkpoint's scores, the ready message
names the step in use and why and attaches the chart, /status says which step is in use."""

from __future__ import annotations

import simcord
from PIL import Image

from engine.settings import Settings
from engine.store import Database, EventKind, endings, events, subjects
from tests.bot._world import (
    World,
    bot_messages,
    png,
    poll,
    preview_with_checkpoint,
    reply,
    started_training,
)


async def test_a_preview_shows_its_scores(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    grid = preview_with_checkpoint(settings, job.id, 100)
    scores = {"identity": 0.6213, "clip_image": 0.81, "clip_text": 0.2871}
    await events.append_event(
        db, job.id, EventKind.PREVIEW, {"step": 100, "scores": scores}, [grid]
    )

    await poll(env)

    message = bot_messages(world.channel)[-1]
    assert "at step 100/" in message.content
    assert "likeness 0.62 · prompt 0.29" in message.content
    assert "otherwise the best-scoring step is used" in message.content
    assert [a.filename for a in message.attachments] == ["step-000100.png"]


async def test_an_unscored_preview_says_nothing_about_scores(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    grid = preview_with_checkpoint(settings, job.id, 100)
    await events.append_event(db, job.id, EventKind.PREVIEW, {"step": 100}, [grid])

    await poll(env)

    content = bot_messages(world.channel)[-1].content
    assert "likeness" not in content and "best-scoring" not in content


def chart(settings: Settings, job_id: int) -> str:
    path = settings.job_dir(job_id) / "scores.png"
    Image.new("RGB", (480, 288), (255, 255, 255)).save(path)
    return settings.data_relative(path)


async def test_the_ready_message_names_the_recommended_step_and_shows_the_chart(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    files = [png(settings, job.id, "step-000300.png"), chart(settings, job.id)]
    payload = {
        "subject": "thor",
        "steps": 500,
        "example": "/imagine prompt: a photo of TOK cat on a skateboard",
        "recommended_step": 300,
        "step_in_use": {"step": 300, "reason": "recommended"},
        "scores": {"identity": 0.62, "clip_text": 0.29},
    }
    await endings.succeed(db, job.id, "gpu-0", payload, files, lora_path="x", recommended_step=300)

    await poll(env)

    ready = bot_messages(world.channel)[-1]
    assert "**thor** is ready after 500 steps" in ready.content
    assert (
        "Model in use: step 300, recommended: best likeness (likeness 0.62 · prompt 0.29)"
        in ready.content
    )
    assert [a.filename for a in ready.attachments] == ["step-000300.png", "scores.png"]


async def test_a_pet_trained_without_scores_says_it_uses_the_final_step(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job = await started_training(world, db)
    payload = {"subject": "thor", "steps": 500, "step_in_use": {"step": None, "reason": "final"}}
    await endings.succeed(db, job.id, "gpu-0", payload, lora_path="x")

    await poll(env)

    ready = bot_messages(world.channel)[-1]
    assert "Model in use: final step." in ready.content and "likeness" not in ready.content


def pets_field(answer: simcord.ResponseMessage) -> str:
    [embed] = answer.embeds
    return next(f.value for f in embed.fields if f.name == "Pets") or ""


async def test_status_says_which_step_is_in_use_and_why(world: World, db: Database) -> None:
    job = await started_training(world, db)
    await endings.succeed(db, job.id, "gpu-0", {}, lora_path="x", recommended_step=300)

    recommended = pets_field(reply(await world.alice.slash(world.channel, "status")))
    assert "**thor** (cat, token `ohwx`): ready, step 300, recommended: best likeness" in (
        recommended
    )

    assert job.subject_id is not None
    await subjects.choose_checkpoint(db, job.subject_id, 200)
    picked = pets_field(reply(await world.alice.slash(world.channel, "status")))
    assert "ready, step 200, your pick" in picked
