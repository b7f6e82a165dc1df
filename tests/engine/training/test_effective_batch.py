"""The training amount is `effective_batch` samples a step, however it is split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from engine.settings import TrainingDefaults
from engine.training import train_lora
from engine.training.plan import plan_training
from tests.engine.training._runs import make_request


def shaped_photos(directory: Path) -> list[Path]:
    """Two square photos and a 2:1 one: two buckets (64x64, 128x64) at 64 px."""
    directory.mkdir(parents=True)
    rng = np.random.default_rng(3)
    paths = []
    for index, size in enumerate([(96, 96), (96, 96), (192, 96)]):
        pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        path = directory / f"photo-{index}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def trained(root: Path, model: Path, photos: list[Path], micro_batch: int) -> dict:
    request = make_request(
        root,
        model,
        photos,
        job=f"job-{micro_batch}",
        steps=2,
        effective_batch=4,
        micro_batch=micro_batch,
        prior_preservation=True,  # class images share each step's bucket too
        num_class_images=2,
        validation_prompts=(),
    )
    result = train_lora(request)
    return load_file(result.lora_dir / "pytorch_lora_weights.safetensors")


@pytest.mark.slow
def test_batch_4_and_accumulation_4_train_the_same_lora(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    photos = shaped_photos(tmp_path / "photos")

    together = trained(tmp_path, tiny_model_dir, photos, micro_batch=4)
    accumulated = trained(tmp_path, tiny_model_dir, photos, micro_batch=1)

    assert together.keys() == accumulated.keys()
    for key, weight in together.items():
        torch.testing.assert_close(weight, accumulated[key], rtol=1e-4, atol=1e-6)
    assert any(w.abs().sum() > 0 for k, w in together.items() if "lora_B" in k or "up" in k)


def test_the_cpu_accumulates_one_sample_at_a_time_unless_told() -> None:
    config = TrainingDefaults()
    assert config.effective_batch == 4  # the seed's batch 1 x accumulation 4
    assert plan_training(config, None, cuda=False).micro_batch == 1
    told = TrainingDefaults(effective_batch=6, micro_batch=3)
    assert plan_training(told, None, cuda=False).micro_batch == 3


def test_a_micro_batch_must_divide_the_effective_batch() -> None:
    with pytest.raises(ValueError, match=r"micro_batch \(3\) must divide effective_batch \(4\)"):
        TrainingDefaults(effective_batch=4, micro_batch=3)
