"""Prior preservation draws its class images (minutes, the first time a class is trained)
on the resident pipeline; pictures waiting meanwhile are served between two of them, and
a pet's LoRA swapped in for such a picture never reaches the class images, which every
later training of the class shares."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.generation.resident import ResidentPipeline
from engine.training import train_lora
from engine.training.request import NullHooks
from tests.engine.generation._tiny_lora import picture
from tests.engine.training._runs import make_photos, make_request

pytestmark = pytest.mark.usefixtures("one_thread")


class ServeAPicture(NullHooks):
    """At every chance before the first training step: draw one picture of a pet."""

    def __init__(self, resident: ResidentPipeline, pet: Path) -> None:
        self.resident, self.pet = resident, pet
        self.served_before_training = 0
        self.training = False

    def on_progress(self, step: int, total: int, loss: float, seconds: float) -> None:
        self.training = True

    def between_steps(self) -> None:
        if not self.training:
            self.resident.generate(picture(self.pet))
            self.served_before_training += 1


def class_images(priors: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(priors.glob("*/class-*.png"))]


def test_pictures_are_served_between_class_images_without_reaching_them(
    resident: ResidentPipeline, pets: tuple[Path, Path], tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = {"steps": 1, "prior_preservation": True, "num_class_images": 3}
    request = make_request(tmp_path / "a", tiny_model_dir, make_photos(tmp_path / "p"), **config)
    hooks = ServeAPicture(resident, pets[0])
    with resident.training() as pipeline:
        train_lora(replace(request, priors_dir=tmp_path / "served"), hooks, pipeline=pipeline)
    with resident.training() as pipeline:  # the same class with nobody waiting
        alone = replace(request, job_dir=tmp_path / "b" / "job", priors_dir=tmp_path / "alone")
        train_lora(alone, NullHooks(), pipeline=pipeline)

    assert hooks.served_before_training >= 3  # one after each class image
    served, drawn_alone = class_images(tmp_path / "served"), class_images(tmp_path / "alone")
    assert len(served) == len(drawn_alone) == 3
    assert all(np.array_equal(a, b) for a, b in zip(served, drawn_alone, strict=True))
