"""Loading an SDXL pipeline from a hub id or a directory, and the errors a person can act on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from engine.models.loading import ModelUnavailableError, load_pipeline

SDXL_HUB_ID = "stabilityai/stable-diffusion-xl-base-1.0"


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache. huggingface_hub reads HF_HOME at import, so the
    resolved cache path is patched as well as the environment."""
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    return home


def test_uncached_hub_model_offline_says_what_to_do(empty_hf_cache: Path) -> None:
    with pytest.raises(ModelUnavailableError) as caught:
        load_pipeline(SDXL_HUB_ID)

    message = str(caught.value)
    assert SDXL_HUB_ID in message
    assert "petbooth download-models" in message
    assert "PETBOOTH_BASE_MODEL" in message
    assert caught.value.__cause__ is not None


def test_uncached_hub_model_in_fp16_says_what_to_do(empty_hf_cache: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="petbooth download-models"):
        load_pipeline(SDXL_HUB_ID, dtype=torch.float16)


@pytest.mark.parametrize("missing", ["/no/such/sdxl/dir", "./no-such-dir"])
def test_missing_local_directory_says_what_to_do(missing: str) -> None:
    with pytest.raises(ModelUnavailableError, match="PETBOOTH_BASE_MODEL"):
        load_pipeline(missing)


def test_directory_without_model_index_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match=r"model_index\.json"):
        load_pipeline(str(tmp_path))


def test_unavailable_vae_falls_back_to_the_local_base_models_own(
    tiny_model_dir: Path, empty_hf_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.models.loading"):
        pipeline = load_pipeline(str(tiny_model_dir), "madebyollin/sdxl-vae-fp16-fix")

    assert "madebyollin/sdxl-vae-fp16-fix" in caplog.text
    own_vae = load_file(tiny_model_dir / "vae/diffusion_pytorch_model.safetensors")
    assert torch.equal(
        pipeline.vae.state_dict()["decoder.conv_in.weight"], own_vae["decoder.conv_in.weight"]
    )


def test_unavailable_vae_with_a_hub_base_is_an_error(empty_hf_cache: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="PETBOOTH_VAE"):
        load_pipeline(SDXL_HUB_ID, "madebyollin/sdxl-vae-fp16-fix")


def test_local_vae_directory_replaces_the_base_models(tmp_path: Path, tiny_model_dir: Path) -> None:
    from engine.models.tiny import build_tiny_sdxl

    other = build_tiny_sdxl(tmp_path / "other", seed=1)

    pipeline = load_pipeline(str(tiny_model_dir), str(other / "vae"))

    other_vae = load_file(other / "vae/diffusion_pytorch_model.safetensors")
    assert torch.equal(
        pipeline.vae.state_dict()["decoder.conv_in.weight"], other_vae["decoder.conv_in.weight"]
    )
