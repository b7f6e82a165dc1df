"""`generation.fuse_lora`: at rest a pet's picture is drawn with its LoRA added into the UNet's
weights; it is the picture the slots draw beside them (to rounding), and the weights are
the base model's again after it, bit for bit. A training frees the copy; pictures served
during it draw with the slots."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.generation import fused_lora
from engine.generation.lora_slot import SLOT
from engine.generation.resident import ResidentPipeline
from tests.engine.generation._tiny_lora import picture, pixels, tiny_settings

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fusing(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ResidentPipeline:
    data = tmp_path_factory.mktemp("fused")
    return ResidentPipeline(tiny_settings(tiny_model_dir, data, lora_slot_rank=8, fuse_lora=True))


def base_weights(resident: ResidentPipeline) -> dict[str, torch.Tensor]:
    unet = resident.pipeline.unet
    return {name: p.detach().clone() for name, p in unet.named_parameters() if ".lora_" not in name}


def test_a_fused_picture_is_the_slot_picture_and_the_weights_come_back(
    fusing: ResidentPipeline, resident: ResidentPipeline, pets: tuple[Path, Path]
) -> None:
    first, second = pets
    before = base_weights(fusing)
    requests = [
        picture(first),
        picture(first, lora_scale=0.5),
        replace(picture(first), second_lora=second),
    ]

    assert fusing.fusing and not resident.fusing
    for request in requests:
        fused, beside = (pixels(r.generate(request).images) for r in (fusing, resident))
        assert np.abs(fused - beside).max() <= 1
    plain = pixels(fusing.generate(picture(None)).images)
    assert np.abs(pixels(fusing.generate(picture(first)).images) - plain).max() > 10
    after = base_weights(fusing)
    assert after.keys() == before.keys()
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert fusing.pipeline.unet.active_adapters() == [SLOT]


def test_a_training_frees_the_copy_and_its_pictures_draw_beside_the_weights(
    fusing: ResidentPipeline, resident: ResidentPipeline, pets: tuple[Path, Path]
) -> None:
    first, _ = pets
    beside = pixels(resident.generate(picture(first)).images)
    with fusing.training():
        assert not fusing.fusing
        drawn = pixels(fusing.generate(picture(first)).images)
    assert fusing.fusing
    assert np.array_equal(drawn, beside)


def test_out_of_memory_while_fused_frees_the_copy_and_draws_the_same_picture_beside(
    fusing: ResidentPipeline,
    resident: ResidentPipeline,
    pets: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The copy is the first thing to give up when memory runs out (1.9 GB on SDXL), before
    the smaller way of drawing; it is taken again when the next training ends."""
    first, _ = pets
    before = base_weights(fusing)
    calls = [0]
    add = fused_lora._delta

    def runs_out(*args: object) -> torch.Tensor:  # half-way through adding the LoRA in
        calls[0] += 1
        if calls[0] == 50:
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return add(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(fused_lora, "_delta", runs_out)
    with caplog.at_level(logging.WARNING, logger="engine.generation.resident"):
        drawn = pixels(fusing.generate(picture(first)).images)

    assert calls[0] >= 50 and not fusing.fusing
    assert np.array_equal(drawn, pixels(resident.generate(picture(first)).images))
    after = base_weights(fusing)
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert "generation.fuse_lora's copy is freed" in caplog.text
    with fusing.training():
        pass
    assert fusing.fusing
