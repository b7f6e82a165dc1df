"""The full-size SDXL configs for GPU benchmarks: SDXL's shapes, checked without memory."""

from __future__ import annotations

import pytest


def test_full_size_unet_config_has_sdxls_parameter_count() -> None:
    # Meta device only: the real 2.6e9 parameters would take 10 GB of RAM.
    from accelerate import init_empty_weights
    from diffusers.models import UNet2DConditionModel

    from engine.models.full_size import unet_config

    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(unet_config())

    count = sum(p.numel() for p in unet.parameters())
    assert count == pytest.approx(2.567e9, rel=0.01)
