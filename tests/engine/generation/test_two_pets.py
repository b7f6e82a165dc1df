"""Two pets in one picture on the resident pipeline (tiny SDXL, CPU): both LoRAs at once
through the second slot, swapped in place, and a one-pet picture exactly as before."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.generation.lora_slot import SLOT, SLOT_2
from engine.generation.render import generation_scheduler, render_images
from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.models.loading import load_pipeline
from tests.engine.generation._tiny_lora import (
    as_a_training_leaves_it,
    assert_given_back,
    picture,
    pixels,
)

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def two(first: Path, second: Path) -> GenerateRequest:
    return replace(picture(first), second_lora=second)


def diffusers_image(model: Path, *loras: Path) -> np.ndarray:
    """The reference: a fresh pipeline with the LoRAs loaded as adapters the diffusers way."""
    pipeline = load_pipeline(str(model))
    names = [f"pet{index}" for index in range(len(loras))]
    for lora, name in zip(loras, names, strict=True):
        pipeline.load_lora_weights(lora, adapter_name=name)
    pipeline.set_adapters(names)
    scheduler = generation_scheduler(pipeline)
    return pixels(render_images(pipeline, scheduler, picture(None), 3, CPU).images)


def slot_pointers(resident: ResidentPipeline) -> dict[str, int]:
    unet = resident.pipeline.unet
    return {
        name: p.data_ptr()
        for name, p in unet.named_parameters()
        if f".{SLOT}." in name or f".{SLOT_2}." in name
    }


def test_two_pets_draw_both_loras_at_once(
    resident: ResidentPipeline, pets: tuple[Path, Path], tiny_model_dir: Path
) -> None:
    first, second = pets
    both = pixels(resident.generate(two(first, second)).images)
    alone = [pixels(resident.generate(picture(lora)).images) for lora in pets]

    assert np.array_equal(both, diffusers_image(tiny_model_dir, first, second))
    assert all(np.abs(both - one).max() > 0 for one in alone)


def test_a_one_pet_picture_is_unchanged_by_the_second_slot(
    resident: ResidentPipeline, pets: tuple[Path, Path], tiny_model_dir: Path
) -> None:
    first, second = pets
    resident.generate(two(first, second))  # the second slot now holds a LoRA
    one = pixels(resident.generate(picture(first)).images)

    assert np.array_equal(one, diffusers_image(tiny_model_dir, first))
    assert resident.pipeline.unet.active_adapters() == [SLOT]  # no second LoRA computed


def test_swaps_fill_both_slots_in_place(
    resident: ResidentPipeline, pets: tuple[Path, Path]
) -> None:
    first, second = [resident.cache.get(lora) for lora in pets]
    before = slot_pointers(resident)
    for one, other in ((first, second), (second, first), (second, None)):
        resident.slots.load(one, other, scale=1.0)

    assert {name.split(".")[-2] for name in before} == {SLOT, SLOT_2}
    assert slot_pointers(resident) == before


def test_a_two_pet_picture_mid_training_gives_the_training_back(
    resident: ResidentPipeline, pets: tuple[Path, Path]
) -> None:
    with resident.training() as pipeline:
        trainable = as_a_training_leaves_it(pipeline.unet)
        resident.generate(two(*pets))

        assert_given_back(pipeline.unet, trainable)
    assert resident.pipeline.unet.active_adapters() == [SLOT]
    assert set(resident.pipeline.unet.peft_config) == {SLOT, SLOT_2}
