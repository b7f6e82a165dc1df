"""A checkpoint's preview is scored on the training thread and its scores commit with its
preview event (real SQLite, the tiny random scorers, no training)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.scoring.scorers import PreviewScorer
from engine.settings import ScoringSettings, Settings
from engine.store import Database, EventKind, events, scores
from engine.training.progress import ScoringTarget, TrainingProgress
from tests.engine._claimed import claimed_control
from tests.samples import scene


@pytest.fixture
def settings(tmp_path: Path, tiny_model_dir: Path) -> Settings:
    scorers = tiny_model_dir / "scorers"
    return Settings(
        data_dir=tmp_path / "data",
        scoring=ScoringSettings(
            identity_model=str(scorers / "identity"), prompt_model=str(scorers / "prompt")
        ),
        _env_file=None,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with await Database.open(settings.database_path) as database:
        yield database


async def progress_of_a_claimed_training(
    db: Database, settings: Settings, scorer: PreviewScorer | None
) -> TrainingProgress:
    progress = TrainingProgress(await claimed_control(db, settings), scorer=scorer)
    photos = []
    for seed in range(3):
        photos.append(settings.data_dir / f"photo-{seed}.png")
        scene(seed, (96, 96)).save(photos[-1])
    progress.score_against(ScoringTarget(photos, ["a photo of cat", "cat on a skateboard"]))
    return progress


def preview(settings: Settings, step: int) -> Path:
    """What the trainer leaves at a checkpoint: the single images, then the grid."""
    grid = settings.job_dir(1) / "previews" / f"step-{step:06d}.png"
    grid.with_suffix("").mkdir(parents=True)
    for index in range(2):
        scene(100 + index, (64, 64)).save(grid.with_suffix("") / f"{index}.png")
    scene(99, (128, 64)).save(grid)
    return grid


async def test_the_preview_event_carries_the_stored_scores(
    db: Database, settings: Settings
) -> None:
    scorer = PreviewScorer(settings.scoring, "cpu")
    progress = await progress_of_a_claimed_training(db, settings, scorer)

    await asyncio.to_thread(progress.on_preview, 2, preview(settings, 2))

    [event] = await events.for_job(db, 1, EventKind.PREVIEW)
    stored = await scores.get(db, 1, 2)
    assert stored is not None
    assert event.payload == {
        "step": 2,
        "scores": {
            "identity": round(stored.identity, 4),
            "clip_image": round(stored.clip_image, 4),
            "clip_text": round(stored.clip_text, 4),
        },
    }
    assert event.files == ["jobs/1/previews/step-000002.png"]


async def test_previewing_a_step_again_sends_no_second_message(
    db: Database, settings: Settings
) -> None:
    progress = await progress_of_a_claimed_training(
        db, settings, PreviewScorer(settings.scoring, "cpu")
    )
    grid = preview(settings, 2)
    await asyncio.to_thread(progress.on_preview, 2, grid)
    await asyncio.to_thread(progress.on_preview, 2, grid)  # a resume redrew it

    assert len(await events.for_job(db, 1, EventKind.PREVIEW)) == 1
    assert [s.step for s in await scores.for_job(db, 1)] == [2]


async def test_scoring_off_still_shows_the_preview(db: Database, settings: Settings) -> None:
    progress = await progress_of_a_claimed_training(db, settings, scorer=None)
    await asyncio.to_thread(progress.on_preview, 2, preview(settings, 2))
    [event] = await events.for_job(db, 1, EventKind.PREVIEW)
    assert event.payload == {"step": 2}
    assert await scores.for_job(db, 1) == []


async def test_missing_scorers_never_fail_the_training(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere")
    scorer = PreviewScorer(ScoringSettings(identity_model=missing, prompt_model=missing), "cpu")
    progress = await progress_of_a_claimed_training(db, settings, scorer)

    await asyncio.to_thread(progress.on_preview, 2, preview(settings, 2))

    [event] = await events.for_job(db, 1, EventKind.PREVIEW)
    assert "scores" not in event.payload


async def test_a_preview_drawn_but_never_announced_is_announced_on_resume(
    db: Database, settings: Settings
) -> None:
    """Killed between saving the grid and committing its event: the next run finds it."""
    progress = await progress_of_a_claimed_training(
        db, settings, PreviewScorer(settings.scoring, "cpu")
    )
    await asyncio.to_thread(progress.on_preview, 2, preview(settings, 2))
    preview(settings, 4)  # drawn, then the engine died

    await progress.announce_drawn_previews(settings.job_dir(1))

    shown = await events.for_job(db, 1, EventKind.PREVIEW)
    assert [e.payload["step"] for e in shown] == [2, 4]
    assert [s.step for s in await scores.for_job(db, 1)] == [2, 4]
