"""The largest rank /train accepts (the generation slot's, 32 by default) trains and draws
through the resident pipeline: what enrolment lets through, /imagine can use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.generation.resident import ResidentPipeline
from engine.orders.enrolment import TrainingOrder
from engine.settings import Settings
from tests.engine.generation._tiny_lora import (
    picture,
    pixels,
    tiny_settings,
    train_tiny_lora,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_a_lora_at_the_slot_rank_trains_and_draws(tiny_model_dir: Path, tmp_path: Path) -> None:
    settings: Settings = tiny_settings(tiny_model_dir, tmp_path / "data")
    largest = settings.generation.lora_slot_rank
    assert largest == 32  # the default slot, not one set for this test
    order = TrainingOrder(1, "thor", "cat", overrides={"rank": largest})
    assert order.problems(settings.training, largest) == []

    lora = train_tiny_lora(tmp_path / "train", tiny_model_dir, rank=largest, steps=2)
    resident = ResidentPipeline(settings)
    drawn = pixels(resident.generate(picture(lora)).images)
    plain = pixels(resident.generate(picture(None)).images)

    # read from the file's down-projections, every layer at the same rank
    assert resident.slot.loaded is not None and resident.slot.loaded.rank == largest
    assert drawn.shape == (64, 64, 3) and drawn.std() > 5
    assert np.abs(drawn - plain).max() > 0  # the LoRA was applied, not skipped
