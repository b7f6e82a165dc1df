"""The "auto" precision and memory settings, resolved for a device."""

from __future__ import annotations

import pytest
import torch

from engine.settings import TrainingDefaults
from engine.training.precision import resolve_precision


def test_auto_precision_on_the_cpu_is_plain_fp32() -> None:
    precision = resolve_precision(TrainingDefaults(), torch.device("cpu"))
    assert precision.weight_dtype == torch.float32 and precision.autocast is None
    assert not precision.use_8bit_adam
    with pytest.raises(ValueError, match=r"mixed_precision=bf16.*use_8bit_adam=on"):
        resolve_precision(
            TrainingDefaults(mixed_precision="bf16", use_8bit_adam="on"), torch.device("cpu")
        )
