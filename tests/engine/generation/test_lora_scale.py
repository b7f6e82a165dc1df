"""/imagine's LoRA scale on the resident pipeline (tiny SDXL, CPU): 0 draws the base model
exactly, 1 the LoRA as trained, and a scale never outlives its request."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.generation.render import generation_scheduler, render_images
from engine.generation.resident import ResidentPipeline
from engine.models.loading import load_pipeline
from engine.training.checkpoints import LORA_WEIGHTS
from tests.engine.generation._tiny_lora import (
    picture,
    pixels,
    tiny_settings,
    train_tiny_lora,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def lora(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_lora(tmp_path_factory.mktemp("lora"), tiny_model_dir, rank=4, steps=3)


def diffusers_image(model: Path, lora: Path, weight: float) -> np.ndarray:
    """The reference: a fresh pipeline, the LoRA loaded and weighted the ordinary diffusers way."""
    pipeline = load_pipeline(str(model))
    pipeline.load_lora_weights(lora, adapter_name="pet")
    pipeline.set_adapters(["pet"], adapter_weights=[weight])
    scheduler = generation_scheduler(pipeline)
    return pixels(render_images(pipeline, scheduler, picture(None), 3, CPU).images)


def test_scale_0_is_the_base_model_1_the_lora_and_between_is_between(
    resident: ResidentPipeline, lora: Path, tiny_model_dir: Path
) -> None:
    base = pixels(resident.generate(picture(None)).images)
    zero = pixels(resident.generate(picture(lora, 0.0)).images)
    half = pixels(resident.generate(picture(lora, 0.5)).images)
    full = pixels(resident.generate(picture(lora, 1.0)).images)

    assert np.array_equal(zero, base)
    assert np.array_equal(full, diffusers_image(tiny_model_dir, lora, 1.0))  # today's image
    assert np.array_equal(half, diffusers_image(tiny_model_dir, lora, 0.5))
    assert np.abs(half - base).max() > 0 and np.abs(half - full).max() > 0
    assert np.abs(full - base).max() > 0  # the LoRA does change the picture


def test_a_scale_applies_to_its_own_request_only(resident: ResidentPipeline, lora: Path) -> None:
    full = pixels(resident.generate(picture(lora)).images)
    half = pixels(resident.generate(picture(lora, 0.5)).images)
    base = pixels(resident.generate(picture(None)).images)

    # The same LoRA stays in the slot between these: only its scale changes.
    assert np.array_equal(pixels(resident.generate(picture(lora)).images), full)
    assert np.array_equal(pixels(resident.generate(picture(lora, 0.0)).images), base)
    assert np.array_equal(pixels(resident.generate(picture(lora, 0.5)).images), half)
    assert np.array_equal(pixels(resident.generate(picture(None)).images), base)
    assert np.array_equal(pixels(resident.generate(picture(lora, 1.0)).images), full)


def test_a_training_after_a_scaled_picture_trains_what_it_trains_alone(
    resident: ResidentPipeline, lora: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    full = pixels(resident.generate(picture(lora)).images)
    resident.generate(picture(lora, 0.3))
    alone = train_tiny_lora(tmp_path / "alone", tiny_model_dir, rank=4, steps=2, seed=5)
    with resident.training() as pipeline:
        lent = train_tiny_lora(
            tmp_path / "lent", tiny_model_dir, rank=4, steps=2, seed=5, pipeline=pipeline
        )

    expected, got = load_file(alone / LORA_WEIGHTS), load_file(lent / LORA_WEIGHTS)
    assert expected.keys() == got.keys()
    for key, tensor in expected.items():
        assert torch.allclose(tensor, got[key], rtol=0, atol=1e-7), key
    assert np.array_equal(pixels(resident.generate(picture(lora)).images), full)


def test_a_compiled_unet_draws_every_scale_without_recompiling(
    lora: Path, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scale is written into the slot's scaling tensors in place, so the graph traced at
    the first picture serves every later scale. Dynamo alone (backend "eager"): its guards
    decide recompiles, and it traces the tiny UNet in about 12 s where inductor on a CPU
    takes minutes."""
    eager = ResidentPipeline(tiny_settings(tiny_model_dir, tmp_path / "eager", lora_slot_rank=8))
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    compiled = ResidentPipeline(
        tiny_settings(tiny_model_dir, tmp_path / "compiled", lora_slot_rank=8, compile=True)
    )
    torch._dynamo.reset()

    drawn = [pixels(compiled.generate(picture(lora, 1.0)).images)]
    with torch._dynamo.config.patch(error_on_recompile=True):
        drawn += [pixels(compiled.generate(picture(lora, s)).images) for s in (0.5, 0.0, 1.0)]

    expected = [pixels(eager.generate(picture(lora, s)).images) for s in (1.0, 0.5, 0.0, 1.0)]
    assert all(np.array_equal(a, b) for a, b in zip(drawn, expected, strict=True))
