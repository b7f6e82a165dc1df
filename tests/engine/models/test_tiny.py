"""The tiny random SDXL the tests run on: loadable, drawing, small, reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from engine.models.loading import load_pipeline


def test_tiny_pipeline_loads_and_draws_a_non_constant_image(tiny_model_dir: Path) -> None:
    pipeline = load_pipeline(str(tiny_model_dir))

    result = pipeline(
        "a photo of sks cat on a skateboard",
        num_inference_steps=2,
        height=64,
        width=64,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    )

    image = result.images[0]
    assert image.shape == (64, 64, 3)
    assert np.isfinite(image).all()
    assert image.std() > 0.01


def test_tiny_unet_has_the_lora_target_modules(tiny_model_dir: Path) -> None:
    pipeline = load_pipeline(str(tiny_model_dir))

    names = {name.rsplit(".", 2)[-1] for name, _ in pipeline.unet.named_modules()}

    assert {"to_q", "to_k", "to_v"} <= names
    assert any(name.endswith("to_out.0") for name, _ in pipeline.unet.named_modules())


def test_same_seed_builds_identical_weights(tmp_path: Path, tiny_model_dir: Path) -> None:
    from engine.models.tiny import build_tiny_sdxl

    again = build_tiny_sdxl(tmp_path / "again", seed=0)
    other = build_tiny_sdxl(tmp_path / "other", seed=1)

    weights = "unet/diffusion_pytorch_model.safetensors"
    first, second, third = (load_file(d / weights) for d in (tiny_model_dir, again, other))
    key = "conv_in.weight"
    assert torch.equal(first[key], second[key])
    assert not torch.equal(first[key], third[key])


def test_tiny_model_is_small(tiny_model_dir: Path) -> None:
    size = sum(f.stat().st_size for f in tiny_model_dir.rglob("*") if f.is_file())

    assert size < 20 * 1024 * 1024
