"""The engine's resident pipeline on the tiny SDXL, on the CPU: fixed seeds, hot-swapped
LoRAs, and generation served in the middle of a training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.generation.lora_slot import SLOT, SLOT_2
from engine.generation.render import generation_scheduler, render_images
from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.models.loading import load_pipeline
from engine.training import train_lora
from engine.training.checkpoints import LORA_WEIGHTS
from engine.training.request import NullHooks
from tests.engine.generation._tiny_lora import picture
from tests.engine.training._runs import Run, train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


def order(
    prompt: str = "a photo of sks cat", lora: Path | None = None, **changes: object
) -> GenerateRequest:
    return replace(picture(lora), prompt=prompt, **changes)  # type: ignore[arg-type]


def pixels(images: list) -> list[np.ndarray]:
    return [np.asarray(image, dtype=np.int16) for image in images]


def fresh_images(model: Path, lora: Path | None, wanted: GenerateRequest) -> list[np.ndarray]:
    """The reference: a newly loaded pipeline, the LoRA loaded the ordinary diffusers way."""
    pipeline = load_pipeline(str(model))
    if lora is not None:
        pipeline.load_lora_weights(lora)
    rendered = render_images(pipeline, generation_scheduler(pipeline), wanted, 3, CPU)
    return pixels(rendered.images)


@pytest.fixture(scope="module")
def loras(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Run]:
    """Two 3-step LoRAs with different seeds (lr 1e-3, so they visibly differ)."""
    root = tmp_path_factory.mktemp("loras")
    config = {"steps": 3, "checkpoint_every": 3, "validation_prompts": ()}
    return [train_tiny(root / str(seed), tiny_model_dir, seed=seed, **config) for seed in (1, 2)]


def test_same_seed_same_image_and_image_i_uses_seed_plus_i(resident: ResidentPipeline) -> None:
    two = pixels(resident.generate(order(count=2)).images)
    again = pixels(resident.generate(order(count=2)).images)
    next_seed = pixels(resident.generate(order(seed=12)).images)

    assert all(np.array_equal(a, b) for a, b in zip(two, again, strict=True))
    assert np.array_equal(two[1], next_seed[0])
    assert np.abs(two[0] - two[1]).max() > 10  # different seeds, different images
    assert all(image.std() > 5 for image in two)  # real pixels, not a blank or a constant
    assert two[0].shape == (64, 64, 3)


@pytest.mark.slow
def test_hot_swapped_loras_draw_what_a_freshly_loaded_pipeline_draws(
    resident: ResidentPipeline, loras: list[Run], tiny_model_dir: Path
) -> None:
    first, second = (run.result.lora_dir for run in loras)
    drawn = {}
    for name, lora in [
        ("first", first),
        ("second", second),
        ("plain", None),
        ("first again", first),
    ]:
        drawn[name] = pixels(resident.generate(order(lora=lora)).images)[0]

    assert np.array_equal(drawn["first"], fresh_images(tiny_model_dir, first, order())[0])
    assert np.array_equal(drawn["second"], fresh_images(tiny_model_dir, second, order())[0])
    assert np.array_equal(drawn["plain"], fresh_images(tiny_model_dir, None, order())[0])
    assert np.array_equal(drawn["first again"], drawn["first"])
    assert np.abs(drawn["first"] - drawn["second"]).max() > 0
    assert np.abs(drawn["first"] - drawn["plain"]).max() > 0
    assert resident.pipeline.unet.active_adapters() == [SLOT]
    assert not any(p.requires_grad for p in resident.pipeline.unet.parameters())


@pytest.mark.slow
def test_generation_between_training_steps_leaves_the_training_untouched(
    resident: ResidentPipeline, loras: list[Run], tiny_model_dir: Path, tmp_path: Path
) -> None:
    second = loras[1].result.lora_dir
    request = replace(loras[0].request, job_dir=tmp_path / "alone")
    alone = train_lora(request)

    class GenerateAtStepTwo(NullHooks):
        step = 0
        images: list[np.ndarray] = []  # noqa: RUF012

        def on_progress(self, step: int, total: int, loss: float, seconds: float) -> None:
            self.step = step

        def between_steps(self) -> None:
            if self.step == 2:
                self.images = pixels(resident.generate(order(lora=second)).images)

    hooks = GenerateAtStepTwo()
    shared = replace(request, job_dir=tmp_path / "shared")
    with resident.training() as pipeline:
        result = train_lora(shared, hooks, pipeline=pipeline)

    expected = load_file(alone.lora_dir / LORA_WEIGHTS)
    got = load_file(result.lora_dir / LORA_WEIGHTS)
    assert expected.keys() == got.keys()
    for key, tensor in expected.items():
        assert torch.allclose(tensor, got[key], rtol=0, atol=1e-7), key
    assert np.array_equal(hooks.images[0], fresh_images(tiny_model_dir, second, order())[0])
    unet = resident.pipeline.unet
    assert set(unet.peft_config) == {SLOT, SLOT_2}  # the training adapter is gone
    assert not unet.is_gradient_checkpointing and not unet.training
    assert resident.pipeline.text_encoder_2.device == CPU
