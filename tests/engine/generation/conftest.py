"""The resident tiny pipeline the generation tests draw with, and two pets' LoRAs: one of
each per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.generation.resident import ResidentPipeline
from tests.engine.generation._tiny_lora import one_thread, tiny_settings, train_tiny_lora

__all__ = ["one_thread", "pets", "resident"]


@pytest.fixture(scope="module")
def resident(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ResidentPipeline:
    data = tmp_path_factory.mktemp("data")
    return ResidentPipeline(tiny_settings(tiny_model_dir, data, lora_slot_rank=8))


@pytest.fixture(scope="module")
def pets(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two 2-step LoRAs from different seeds (lr 1e-3: they visibly differ)."""
    root = tmp_path_factory.mktemp("pets")
    first, second = (
        train_tiny_lora(root / str(seed), tiny_model_dir, rank=4, steps=2, seed=seed)
        for seed in (1, 2)
    )
    return first, second
