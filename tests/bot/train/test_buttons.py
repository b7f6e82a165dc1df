"""The "Use step N" button under a preview grid, posted by the delivery loop."""

from __future__ import annotations

import simcord

from engine.settings import Settings
from engine.store import Database, subjects
from tests.bot._world import World, delivered_preview


async def test_preview_is_posted_with_a_button_that_picks_its_step(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    job, preview = await delivered_preview(world, db, env, settings, 200, weights=True)

    assert "at step 200/" in preview.content
    assert [a.filename for a in preview.attachments] == ["step-000200.png"]

    refused = await world.bob.click(preview, label="Use step 200")
    chosen = await world.alice.click(preview, label="Use step 200")

    assert refused.response is not None and "Only the pet's owner" in refused.response.content
    assert chosen.response is not None and "step-200 model" in chosen.response.content
    subject = await subjects.get(db, job.subject_id or 0)
    assert subject is not None and subject.chosen_step == 200


async def test_a_step_whose_weights_are_gone_cannot_be_chosen(
    world: World, db: Database, env: simcord.Env, settings: Settings
) -> None:
    # the grid stayed, the weights did not
    job, preview = await delivered_preview(world, db, env, settings, 100, weights=False)

    answer = await world.alice.click(preview, label="Use step 100")

    assert answer.response is not None and "no longer kept" in answer.response.content
    subject = await subjects.get(db, job.subject_id or 0)
    assert subject is not None and subject.chosen_step is None
