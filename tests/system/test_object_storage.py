"""Two engine machines sharing one PostgreSQL database and one S3 bucket (real servers:
PostgreSQL from tests/postgres.py, moto's S3), each with its own data dir: the first is
SIGKILLed mid-training; the second, starting with an empty local cache, downloads the photos
and the newest uploaded checkpoint and ends with the LoRA an uninterrupted run makes."""

from __future__ import annotations

import json
from pathlib import Path

import obstore
import pytest
import torch
from safetensors.torch import load

from tests.engine_env import (
    SHORT_LEASE,
    TINY_PICTURES,
    engine_env,
    event_rows,
    petbooth,
    query,
    queue_training,
    sigkill_engine_at,
)
from tests.postgres import PostgresServer
from tests.s3 import S3Server
from tests.samples import write_photos

pytestmark = pytest.mark.slow

STEPS = 6


def test_second_machine_resumes_from_the_bucket(
    tmp_path: Path, tiny_model_dir: Path, s3_server: S3Server, postgres_server: PostgresServer
) -> None:
    bucket = s3_server.new_bucket()
    database = postgres_server.fresh_database()
    shared = {
        **SHORT_LEASE,
        **s3_server.env(f"s3://{bucket}/petbooth"),
        "PETBOOTH_DATABASE": database,
        "PETBOOTH_TRAINING__KEEP_CHECKPOINTS": "2",  # so the bucket is pruned too
    }
    first = engine_env(tmp_path / "first", tiny_model_dir, **shared)
    second = engine_env(tmp_path / "second", tiny_model_dir, **shared)
    photos = write_photos(tmp_path / "photos", 5)
    # The same pet for two owners (same token, photos and seed): one job is killed midway,
    # the other trains without interruption, as the reference.
    killed = queue_training(first, photos, steps=STEPS, checkpoint_every=2, owner=1)
    calm = queue_training(first, photos, steps=STEPS, checkpoint_every=2, owner=2)

    sigkill_engine_at(first, database, "checkpoint", 2)
    uploaded = max(p["step"] for p in event_rows(database, "checkpoint"))
    assert uploaded < STEPS, "the engine finished before it was killed; make the job longer"
    # Uploaded before its event: the bucket holds the recorded step, or (killed between
    # the upload and the event) the one after it; state.json is its last file uploaded.
    keys = s3_server.keys(bucket, f"petbooth/jobs/{killed}/checkpoints/")
    newest = max(int(k.split("/step-")[1][:6]) for k in keys if k.endswith("/state.json"))
    assert f"petbooth/jobs/{killed}/checkpoints/step-{uploaded:06d}/optimizer.pt" in keys
    assert newest in (uploaded, uploaded + 2)

    finished = petbooth("engine", "--until-idle", env=second)
    assert finished.returncode == 0, finished.stdout + finished.stderr

    done = {row["subject"]: row for row in event_rows(database, "done")}
    assert len(event_rows(database, "done")) == 2 and done["thor"]["steps"] == STEPS
    resumed = [row["resumed_from"] for row in event_rows(database, "done")]
    assert sorted(resumed, key=bool) == [None, newest], "resumed from the bucket's newest"
    stored = s3_server.keys(bucket, "petbooth/")
    for job in (killed, calm):
        assert f"petbooth/jobs/{job}/lora/pytorch_lora_weights.safetensors" in stored
        assert f"petbooth/jobs/{job}/lora/pet_kohya.safetensors" in stored
        assert f"petbooth/jobs/{job}/previews/step-{STEPS:06d}.png" in stored
        # Older checkpoints keep their LoRA but lose their optimizer state, as on disk.
        assert f"petbooth/jobs/{job}/checkpoints/step-000002/state.json" in stored
        assert f"petbooth/jobs/{job}/checkpoints/step-000002/optimizer.pt" not in stored
    # Every file a done event names is in the bucket: the bot attaches it from there.
    for row_files in _done_files(database):
        assert all(f"petbooth/{name}" in stored for name in row_files)

    assert list((tmp_path / "second").glob("subjects/*/photos/*.jpg")), "photos downloaded"
    killed_lora, calm_lora = (_stored_lora(s3_server, bucket, job) for job in (killed, calm))
    assert killed_lora.keys() == calm_lora.keys()
    for key in calm_lora:  # to float rounding, as in test_engine_crash
        assert torch.allclose(calm_lora[key], killed_lora[key], rtol=0, atol=1e-6), key

    # A third machine, its cache empty too, draws the pet with the LoRA from the bucket.
    third = engine_env(tmp_path / "third", tiny_model_dir, **shared, **TINY_PICTURES)
    queued = petbooth("imagine", "TOK cat", "--subject", "thor", "--owner", "1", env=third)
    assert queued.returncode == 0, queued.stderr
    drawn = petbooth("engine", "--until-idle", env=third)
    assert drawn.returncode == 0, drawn.stdout + drawn.stderr
    picture = int(queued.stdout)
    assert f"petbooth/outputs/{picture}/image-0.png" in s3_server.keys(bucket, "petbooth/")
    # The final LoRA or the recommended checkpoint's, whichever the pet draws with.
    assert list((tmp_path / "third" / "jobs" / str(killed)).rglob("pytorch_lora_weights.*"))


def _done_files(database: str) -> list[list[str]]:
    rows = query(database, "SELECT files FROM events WHERE kind = 'done'")
    return [json.loads(files) for (files,) in rows]


def _stored_lora(server: S3Server, bucket: str, job: int) -> dict[str, torch.Tensor]:
    key = f"petbooth/jobs/{job}/lora/pytorch_lora_weights.safetensors"
    return load(bytes(obstore.get(server.store(bucket), key).bytes()))
