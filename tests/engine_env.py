"""Environment and process helpers for tests that run the real `petbooth` CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

# A dead engine's job comes back after 2 s instead of 60: for tests that kill engines.
SHORT_LEASE = {"PETBOOTH_LEASE_SECONDS": "2", "PETBOOTH_HEARTBEAT_SECONDS": "0.5"}


def engine_env(data_dir: Path, model_dir: Path, **extra: str) -> dict[str, str]:
    """Settings for a CPU engine on the tiny model: small photos, every event recorded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETBOOTH_")}
    env.update(
        {
            "PETBOOTH_DATA_DIR": str(data_dir),
            "PETBOOTH_BASE_MODEL": str(model_dir),
            "PETBOOTH_DEVICE": "cpu",
            "PETBOOTH_MIN_PHOTO_SIDE": "64",
            "PETBOOTH_PROGRESS_EVERY_SECONDS": "0",
            "PETBOOTH_POLL_SECONDS": "0.2",
            "PETBOOTH_TRAINING__PREVIEW_STEPS": "2",
            "PETBOOTH_TRAINING__VALIDATION_PROMPTS": json.dumps(["a photo of {token} {cls}"]),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # On the 2-core test machines two OpenMP threads plus the engine's heartbeat and
            # SQLite threads oversubscribe the CPU: a 0.5 s heartbeat made each tiny-model step
            # take 15 s instead of 0.3 s (measured). One intra-op thread avoids the stalls.
            "OMP_NUM_THREADS": "1",
        }
    )
    env.update(extra)
    return env


def petbooth(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_petbooth(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def event_rows(database: Path, kind: str) -> list[dict]:
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT payload FROM events WHERE kind = ? ORDER BY id", (kind,)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def queue_training(
    env: dict[str, str],
    photos: list[Path],
    *,
    steps: int,
    checkpoint_every: int,
    name: str = "thor",
    owner: int = 0,
) -> int:
    """`petbooth train` at 64 px; returns the job id."""
    queued = petbooth(
        "train",
        *map(str, photos),
        "--name",
        name,
        "--class",
        "cat",
        "--steps",
        str(steps),
        "--resolution",
        "64",
        "--checkpoint-every",
        str(checkpoint_every),
        "--owner",
        str(owner),
        env=env,
    )
    assert queued.returncode == 0, queued.stderr
    return int(queued.stdout)


def wait_until(condition, proc: subprocess.Popen, what: str, timeout: float = 240):
    """Poll `condition()` until truthy (returned), failing early if `proc` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"died waiting for {what}: {proc.stdout.read()}"
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def reached(database: Path, kind: str, step: int):
    """A condition: some `kind` event (progress, checkpoint) has reached `step`."""
    return lambda: database.exists() and any(p["step"] >= step for p in event_rows(database, kind))
