"""What "Use step N" says when it refuses: who may press it, and a pet that is gone."""

from __future__ import annotations

import simcord

from engine.settings import Settings
from engine.store import Database, subjects
from tests.bot._world import World, delivered_preview, reply


async def test_a_stranger_is_told_only_the_owner_picks_the_step(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    _, preview = await delivered_preview(world, db, env, settings, 200, weights=True)

    answer = reply(await world.bob.click(preview, label="Use step 200"))

    assert answer.content == "Only the pet's owner can choose which step thor draws with."


async def test_the_step_of_a_forgotten_pet_cannot_be_chosen(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job, preview = await delivered_preview(world, db, env, settings, 200, weights=True)
    await subjects.delete(db, job.subject_id or 0)

    answer = reply(await world.alice.click(preview, label="Use step 200"))

    assert answer.content == "This pet was forgotten, so there is no step left to choose."


async def test_a_step_no_longer_kept_says_what_to_press_instead(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    _, preview = await delivered_preview(world, db, env, settings, 100, weights=False)

    answer = reply(await world.alice.click(preview, label="Use step 100"))

    assert answer.content == (
        "thor's step 100 is no longer kept: press a later preview's button, or keep the "
        "final model."
    )
