"""`petbooth imagine --lora-scale`: refused outside 0-1.5 with the reason, else queued."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    monkeypatch.setenv("PETBOOTH_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def queued_params(data_dir: Path) -> list[dict]:
    with sqlite3.connect(data_dir / "petbooth.sqlite3") as conn:
        return [json.loads(row[0]) for row in conn.execute("SELECT params FROM jobs ORDER BY id")]


def test_a_scale_out_of_range_is_refused_with_the_reason(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["imagine", "a lighthouse", "--lora-scale", "2"]) == 1

    assert "LoRA scale must be between 0 and 1.5" in capsys.readouterr().err
    assert queued_params(data_dir) == []


def test_the_scale_is_queued_with_the_job(data_dir: Path) -> None:
    assert main(["imagine", "a lighthouse", "--lora-scale", "0.7"]) == 0
    assert main(["imagine", "a lighthouse"]) == 0

    first, second = queued_params(data_dir)
    assert first["lora_scale"] == 0.7 and second["lora_scale"] == 1.0
