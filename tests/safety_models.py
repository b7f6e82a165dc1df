"""The tiny safety classifiers the safety tests screen with (`engine.models.tiny_safety`):
one that flags every picture, one that flags none. Built once per session each (0.3 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.models.tiny_safety import build_tiny_safety


@pytest.fixture(scope="session")
def flags_everything(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_safety(tmp_path_factory.mktemp("safety") / "flags-all", True)


@pytest.fixture(scope="session")
def flags_nothing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_safety(tmp_path_factory.mktemp("safety") / "flags-none")
