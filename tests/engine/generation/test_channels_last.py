"""`generation.channels_last`: the resident UNet in channels-last memory format draws the
picture the contiguous one draws (to rounding). "auto" is off on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.generation.resident import ResidentPipeline
from tests.engine.generation._tiny_lora import picture, tiny_settings

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_channels_last_unet_draws_the_same_picture(tiny_model_dir: Path, tmp_path: Path) -> None:
    auto = ResidentPipeline(tiny_settings(tiny_model_dir, tmp_path / "auto"))
    last = ResidentPipeline(tiny_settings(tiny_model_dir, tmp_path / "on", channels_last="on"))

    conv = last.pipeline.unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert auto.pipeline.unet.conv_in.weight.is_contiguous()
    drawn = [np.asarray(r.generate(picture(None)).images[0], np.int16) for r in (auto, last)]
    assert np.abs(drawn[0] - drawn[1]).max() <= 2
