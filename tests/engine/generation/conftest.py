"""The resident tiny pipeline the generation tests draw with: one per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.generation.resident import ResidentPipeline
from tests.engine.generation._tiny_lora import one_thread, tiny_settings

__all__ = ["one_thread", "resident"]


@pytest.fixture(scope="module")
def resident(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ResidentPipeline:
    data = tmp_path_factory.mktemp("data")
    return ResidentPipeline(tiny_settings(tiny_model_dir, data, lora_slot_rank=8))
