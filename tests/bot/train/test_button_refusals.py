"""What "Use step N" says when it refuses: who may press it, and a pet that is gone."""

from __future__ import annotations

import pytest
import simcord

from engine.settings import Settings
from engine.store import Database, subjects
from tests.bot._world import World, delivered_preview, reply

REFUSALS = {
    "a stranger": (
        "bob",
        200,
        True,
        False,
        "Only the pet's owner can choose which step thor draws with.",
    ),
    "a forgotten pet": (
        "alice",
        200,
        True,
        True,
        "This pet was forgotten, so there is no step left to choose.",
    ),
    "a step no longer kept": (
        "alice",
        100,
        False,
        False,
        "thor's step 100 is no longer kept: press a later preview's button, or keep the "
        "final model.",
    ),
}


@pytest.mark.parametrize(
    ("who", "step", "kept", "forgotten", "expected"), REFUSALS.values(), ids=REFUSALS
)
async def test_use_step_refuses_in_words(
    world: World,
    db: Database,
    env: simcord.Env,
    settings: Settings,
    who: str,
    step: int,
    kept: bool,
    forgotten: bool,
    expected: str,
) -> None:
    job, preview = await delivered_preview(world, db, env, settings, step, weights=kept)
    if forgotten:
        await subjects.delete(db, job.subject_id or 0)

    answer = reply(await getattr(world, who).click(preview, label=f"Use step {step}"))

    assert answer.content == expected
