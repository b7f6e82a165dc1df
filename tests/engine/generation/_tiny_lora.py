"""Training a LoRA on the tiny SDXL and drawing with it, for the generation tests here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from peft import LoraConfig
from PIL import Image

from engine.generation.request import GenerateRequest
from engine.settings import Settings
from engine.training import train_lora
from engine.training.loop import LORA_TARGETS, TRAINING_ADAPTER
from tests.engine.training._runs import make_request
from tests.samples import write_photos


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    # Two OpenMP threads on the contended 2-core test machines made tiny-model calls up to
    # 10x slower than one (measured in tests/test_generation.py); one thread is steady.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_settings(model: Path, data: Path, **generation: object) -> Settings:
    """An engine on the CPU drawing 64 px pictures in 2 steps; the slot rank is the default
    unless `generation` says otherwise."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=data,
        base_model=str(model),
        vae="",
        device="cpu",
        generation={"resolution": 64, "steps": 2, **generation},
    )


def train_tiny_lora(
    root: Path,
    model: Path,
    *,
    rank: int,
    steps: int,
    seed: int = 1,
    pipeline: StableDiffusionXLPipeline | None = None,
) -> Path:
    """A LoRA trained at 64 px with lr 1e-3 (large, so a few steps change the images
    visibly), on `pipeline` if one is lent; returns its directory."""
    request = make_request(
        root,
        model,
        write_photos(root / "photos", 3),
        steps=steps,
        checkpoint_every=steps,
        rank=rank,
        seed=seed,
        validation_prompts=(),
    )
    return train_lora(request, pipeline=pipeline).lora_dir


def picture(lora: Path | None, lora_scale: float = 1.0) -> GenerateRequest:
    """One 64 px picture of the trained token, seed 11."""
    return GenerateRequest(
        prompt="a photo of sks cat",
        negative_prompt="",
        count=1,
        seed=11,
        steps=2,
        guidance_scale=5.0,
        width=64,
        height=64,
        lora=lora,
        subject=None,
        lora_scale=lora_scale,
    )


def pixels(images: list[Image.Image]) -> np.ndarray:
    [image] = images
    return np.asarray(image, dtype=np.int16)


def as_a_training_leaves_it(unet: UNet2DConditionModel) -> list[torch.nn.Parameter]:
    """`unet` as a training has it between two steps (its adapter active and training, in
    train mode); returns the parameters its optimizer holds."""
    unet.add_adapter(LoraConfig(r=4, target_modules=LORA_TARGETS), TRAINING_ADAPTER)
    unet.set_adapter(TRAINING_ADAPTER)
    unet.train()
    return [p for p in unet.parameters() if p.requires_grad]


def assert_given_back(unet: UNet2DConditionModel, trainable: list[torch.nn.Parameter]) -> None:
    """The training's view of `unet` after a picture: as `as_a_training_leaves_it` left it."""
    assert unet.training and unet.active_adapters() == [TRAINING_ADAPTER]
    assert [p for p in unet.parameters() if p.requires_grad] == trainable
