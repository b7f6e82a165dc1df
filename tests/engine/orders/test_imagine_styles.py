"""/imagine's styles: a few words added to the prompt and the negative prompt, the user's own
text kept as typed (torch-free)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.orders.imagine import ImagineOrder, ImagineRefused, enqueue_imagine
from engine.orders.styles import STYLES, styled
from engine.settings import Settings
from engine.store import Database, SubjectStatus, jobs, subjects


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None)


def test_a_style_adds_its_words_after_the_users_and_none_adds_nothing() -> None:
    watercolour = STYLES["watercolour"]

    assert styled("TOK cat", "", None) == ("TOK cat", "")
    assert styled("TOK cat", "", "watercolour") == (
        f"TOK cat, {watercolour.prompt}",
        watercolour.negative,
    )
    assert styled("TOK cat", "hats", "watercolour")[1] == f"hats, {watercolour.negative}"


async def test_a_styled_job_draws_the_styled_prompt_and_keeps_what_was_typed(
    db: Database, settings: Settings
) -> None:
    async with db.transaction() as tx:
        thor = await subjects.create_tx(tx, owner_id=1, name="thor", class_noun="cat")
    await subjects.set_status(db, thor.id, SubjectStatus.READY, lora_path="x")
    order = ImagineOrder(1, "TOK cat in a garden", negative_prompt="rain", style="pixel art")

    queued = await enqueue_imagine(db, settings, order)

    job = await jobs.get(db, queued.job_id)
    assert job is not None
    pixel = STYLES["pixel art"]
    assert job.params["prompt"] == f"{thor.token} cat in a garden, {pixel.prompt}"
    assert job.params["negative_prompt"] == f"rain, {pixel.negative}"
    assert job.params["raw_prompt"] == "TOK cat in a garden"
    assert job.params["raw_negative_prompt"] == "rain"
    assert job.params["style"] == "pixel art"


async def test_an_unknown_style_is_refused_with_the_list(db: Database, settings: Settings) -> None:
    with pytest.raises(ImagineRefused) as refused:
        await enqueue_imagine(db, settings, ImagineOrder(1, "a cat", style="vaporwave"))

    assert refused.value.reasons == [f"Style must be one of: {', '.join(STYLES)}."]
