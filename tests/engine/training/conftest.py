"""One uninterrupted tiny training, shared by the tests that only look at its outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.training._runs import Run, train_tiny


@pytest.fixture(scope="package")
def four_steps(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One uninterrupted 4-step run (the test request's defaults)."""
    return train_tiny(tmp_path_factory.mktemp("four-steps"), tiny_model_dir)
