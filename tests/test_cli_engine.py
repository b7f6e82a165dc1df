"""The `petbooth` CLI end to end on the tiny SDXL: train -> engine -> status -> LoRA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from tests.engine_env import engine_env, event_rows, petbooth, queue_training
from tests.samples import write_photos

pytestmark = pytest.mark.slow


def test_tiny_model_command_writes_a_loadable_pipeline(tmp_path: Path, capsys) -> None:
    assert main(["tiny-model", str(tmp_path / "tiny")]) == 0
    assert (tmp_path / "tiny" / "model_index.json").is_file()
    assert "PETBOOTH_BASE_MODEL=" in capsys.readouterr().out


def test_train_rejects_bad_photos_with_reasons(tmp_path: Path, tiny_model_dir: Path) -> None:
    env = engine_env(tmp_path / "data", tiny_model_dir)
    photos = write_photos(tmp_path / "photos", 2)
    junk = tmp_path / "photos" / "junk.jpg"
    junk.write_bytes(b"definitely not a jpeg")
    result = petbooth(
        "train", *map(str, photos), str(junk), "--name", "thor", "--class", "cat", env=env
    )
    assert result.returncode == 1
    assert "at least 5" in result.stderr and "junk.jpg" in result.stderr
    assert result.stdout == ""


def test_train_engine_status_end_to_end(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    env = engine_env(data, tiny_model_dir)
    photos = write_photos(tmp_path / "photos", 5)
    job_id = queue_training(env, photos, steps=4, checkpoint_every=2)

    before = json.loads(petbooth("status", "--json", env=env).stdout)
    assert before["jobs"][0]["id"] == job_id and before["jobs"][0]["position"] == 1

    ran = petbooth("engine", "--until-idle", env=env)
    assert ran.returncode == 0, ran.stderr

    after = json.loads(petbooth("status", "--json", env=env).stdout)
    job = after["jobs"][0]
    assert job["state"] == "succeeded" and job["step"] == 4 and job["total_steps"] == 4
    assert after["subjects"][0]["status"] == "ready"
    assert [p["step"] for p in event_rows(data / "petbooth.sqlite3", "progress")] == [1, 2, 3, 4]
    previews = event_rows(data / "petbooth.sqlite3", "preview")
    assert [p["step"] for p in previews] == [2, 4]
    lora = data / "jobs" / str(job_id) / "lora" / "pytorch_lora_weights.safetensors"
    assert lora.is_file()
    human = petbooth("status", env=env).stdout
    assert "thor (cat" in human and "succeeded" in human
