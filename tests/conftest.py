"""Shared fixtures. Tests never reach a model hub: the tiny SDXL is built from config here."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub: tests must never reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Here rather than beside the bot fixtures: tests/bot and tests/system both use it.
    config.addinivalue_line(
        "markers", "bot_errors_expected: the test provokes unexpected errors on purpose"
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SDXL pipeline saved with save_pretrained (about 11 MB), built once."""
    from engine.models.tiny import build_tiny_sdxl

    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl"))
