"""`petbooth imagine` end to end on the tiny SDXL: train, draw the pet, PNGs in --out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.engine_env import engine_env, event_rows, petbooth
from tests.samples import write_photos

pytestmark = pytest.mark.slow


def test_train_then_imagine_writes_pngs_into_out(tmp_path: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    env = engine_env(
        data,
        tiny_model_dir,
        PETBOOTH_GENERATION__RESOLUTION="64",
        PETBOOTH_GENERATION__STEPS="2",
        PETBOOTH_GENERATION__LORA_SLOT_RANK="8",
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

    done = event_rows(data / "petbooth.sqlite3", "done")[-1]
    assert done["images"] == 2 and done["seed"] == 5 and done["subject"] == "thor"
    assert done["truncated"] is None and (done["width"], done["height"]) == (64, 64)
    assert "cat on a skateboard" in done["prompt"] and "TOK" not in done["prompt"]
    with sqlite3.connect(data / "petbooth.sqlite3") as conn:
        (files,) = conn.execute(
            "SELECT files FROM events WHERE job_id = ? AND kind = 'done'", (job_id,)
        ).fetchone()
    assert files == f'["outputs/{job_id}/image-0.png", "outputs/{job_id}/image-1.png"]'
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
