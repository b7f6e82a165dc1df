"""Class images for prior preservation: generated once per class, shared, topped up."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.training import train_lora
from tests.engine.training._runs import make_photos, make_request


@pytest.mark.slow
def test_class_images_are_generated_once_and_shared_by_the_class(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = {"steps": 1, "prior_preservation": True, "num_class_images": 2}
    first = make_request(tmp_path / "a", tiny_model_dir, make_photos(tmp_path / "pa"), **config)
    first = replace(first, priors_dir=tmp_path / "priors")
    train_lora(first)
    generated = sorted((tmp_path / "priors").glob("*/class-*.png"))
    assert [path.name for path in generated] == ["class-0000.png", "class-0001.png"]
    made_at = {path: path.stat().st_mtime_ns for path in generated}

    second = make_request(
        tmp_path / "b", tiny_model_dir, make_photos(tmp_path / "pb", seed=1), **config
    )
    second = replace(second, priors_dir=tmp_path / "priors")
    result = train_lora(second)

    assert {path: path.stat().st_mtime_ns for path in generated} == made_at
    assert sorted((tmp_path / "priors").glob("*/class-*.png")) == generated
    assert np.isfinite(result.final_loss)

    third = replace(second, job_dir=tmp_path / "c" / "job")
    train_lora(replace(third, config=third.config.model_copy(update={"num_class_images": 3})))
    now = sorted((tmp_path / "priors").glob("*/class-*.png"))
    assert [path.name for path in now][-1] == "class-0002.png"
    assert {path: path.stat().st_mtime_ns for path in generated} == made_at  # only the shortfall
