"""The `petbooth` CLI end to end on the tiny SDXL: train -> engine -> status -> LoRA, and
imagine -> PNGs in --out."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from tests.engine_env import (
    TINY_PICTURES,
    engine_env,
    engine_site,
    event_rows,
    petbooth,
    queue_training,
)
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
    data, database, env = engine_site(tmp_path, tiny_model_dir)
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
    assert [p["step"] for p in event_rows(database, "progress")] == [1, 2, 3, 4]
    previews = event_rows(database, "preview")
    assert [p["step"] for p in previews] == [2, 4]
    lora = data / "jobs" / str(job_id) / "lora" / "pytorch_lora_weights.safetensors"
    assert lora.is_file()
    human = petbooth("status", env=env).stdout
    assert "thor (cat" in human and "succeeded" in human


def test_train_then_imagine_writes_pngs_into_out(tmp_path: Path, tiny_model_dir: Path) -> None:
    _, database, env = engine_site(
        tmp_path, tiny_model_dir, **TINY_PICTURES, PETBOOTH_GENERATION__LORA_SLOT_RANK="8"
    )
    photos = write_photos(tmp_path / "photos", 5)
    trained = petbooth(
        "train",
        *map(str, photos),
        "--name",
        "thor",
        "--class",
        "cat",
        "--steps",
        "2",
        "--resolution",
        "64",
        env=env,
    )
    assert trained.returncode == 0, trained.stderr
    assert petbooth("engine", "--until-idle", env=env).returncode == 0

    out = tmp_path / "out"
    queued = petbooth(
        "imagine",
        "TOK cat on a skateboard",
        "--subject",
        "thor",
        "--seed",
        "5",
        "--count",
        "2",
        "--out",
        str(out),
        env=env,
    )
    assert queued.returncode == 0, queued.stderr
    job_id = int(queued.stdout.strip())
    ran = petbooth("engine", "--until-idle", env=env)
    assert ran.returncode == 0, ran.stderr

    done = event_rows(database, "done")[-1]
    assert done["images"] == 2 and done["seed"] == 5 and done["subject"] == "thor"
    assert done["truncated"] is None and (done["width"], done["height"]) == (64, 64)
    assert "cat on a skateboard" in done["prompt"] and "TOK" not in done["prompt"]
    with sqlite3.connect(database) as conn:
        (files,) = conn.execute(
            "SELECT files FROM events WHERE job_id = ? AND kind = 'done'", (job_id,)
        ).fetchone()
        (speed,) = conn.execute("SELECT seconds_per_step FROM jobs WHERE id = ?", (job_id,))
    assert files == f'["outputs/{job_id}/image-0.png", "outputs/{job_id}/image-1.png"]'
    assert speed[0] > 0  # what /status's picture ETAs learn from
    copied = sorted(out.glob("*.png"))
    assert [p.name for p in copied] == ["image-0.png", "image-1.png"]
    with Image.open(copied[0]) as image:
        assert image.size == (64, 64) and np.asarray(image).std() > 5


def test_imagine_refuses_an_unknown_pet_with_the_reason(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    env = engine_env(tmp_path / "data", tiny_model_dir)
    refused = petbooth("imagine", "TOK cat", "--subject", "nobody", env=env)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "no pet named 'nobody'" in refused.stderr
