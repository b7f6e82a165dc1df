"""Settings: sizes nobody set follow the base model's native size."""

from __future__ import annotations

import json
from pathlib import Path

from engine.settings import SDXL_NATIVE, Settings, native_resolution


def model_dir(root: Path, sample_size: int, vae_blocks: int) -> Path:
    """Just the two configs native_resolution reads, as save_pretrained writes them."""
    for part, config in (
        ("unet", {"sample_size": sample_size}),
        ("vae", {"block_out_channels": [32] * vae_blocks}),
    ):
        (root / part).mkdir(parents=True)
        (root / part / "config.json").write_text(json.dumps(config))
    return root


def test_the_native_size_is_read_from_the_models_configs(tmp_path: Path) -> None:
    assert native_resolution(str(model_dir(tmp_path / "sdxl", 128, 4))) == 1024
    assert native_resolution(str(model_dir(tmp_path / "tiny", 32, 2))) == 64
    assert native_resolution("stabilityai/stable-diffusion-xl-base-1.0") == SDXL_NATIVE
    assert native_resolution(str(tmp_path / "missing")) == SDXL_NATIVE


def test_training_and_pictures_default_to_the_native_size_unless_set(tmp_path: Path) -> None:
    tiny = str(model_dir(tmp_path / "tiny", 32, 2))

    default = Settings(_env_file=None, base_model=tiny)  # type: ignore[call-arg]
    chosen = Settings(
        _env_file=None,  # type: ignore[call-arg]
        base_model=tiny,
        training={"resolution": 128},
        generation={"resolution": 256},
    )

    assert (default.training.resolution, default.generation.resolution) == (64, 64)
    assert (chosen.training.resolution, chosen.generation.resolution) == (128, 256)
    assert Settings(_env_file=None).training.resolution == 1024  # type: ignore[call-arg]
