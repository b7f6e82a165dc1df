"""Environment and process helpers for tests that run the real `petbooth` CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

# A dead engine's job comes back after 2 s instead of 60: for tests that kill engines.
SHORT_LEASE = {"PETBOOTH_LEASE_SECONDS": "2", "PETBOOTH_HEARTBEAT_SECONDS": "0.5"}
# Pictures the tiny model draws in a moment: 64 px, 2 steps.
TINY_PICTURES = {"PETBOOTH_GENERATION__RESOLUTION": "64", "PETBOOTH_GENERATION__STEPS": "2"}


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
            # One sample a step: these tests are about processes, leases and events; the
            # 4-sample default (and that its split changes nothing) is tested in training.
            "PETBOOTH_TRAINING__EFFECTIVE_BATCH": "1",
            "PETBOOTH_TRAINING__VALIDATION_PROMPTS": json.dumps(["a photo of {token} {cls}"]),
            # The tiny random scorers `build_tiny_sdxl` writes beside the model.
            "PETBOOTH_SCORING__IDENTITY_MODEL": str(model_dir / "scorers" / "identity"),
            "PETBOOTH_SCORING__PROMPT_MODEL": str(model_dir / "scorers" / "prompt"),
            # Its tiny safety classifier, which flags nothing (`engine.models.tiny_safety`).
            "PETBOOTH_SAFETY__MODEL": str(model_dir / "safety"),
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


class EngineSite(NamedTuple):
    """A data folder for `petbooth` commands: the folder, its database, the environment."""

    data: Path
    database: Path
    env: dict[str, str]


def engine_site(tmp_path: Path, model_dir: Path, **extra: str) -> EngineSite:
    """`engine_env` for a fresh `data` folder in `tmp_path`, and where its database will be."""
    data = tmp_path / "data"
    return EngineSite(data, data / "petbooth.sqlite3", engine_env(data, model_dir, **extra))


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


def query(database: Path | str, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of one query, as a test reads the store from outside the processes under test:
    `database` is a SQLite file or a postgresql:// URL (SQL with `?` placeholders)."""
    if isinstance(database, str):
        import psycopg

        with psycopg.connect(database) as conn:
            return conn.execute(sql.replace("?", "%s"), args).fetchall()  # type: ignore[arg-type]
    with sqlite3.connect(database) as conn:
        return conn.execute(sql, args).fetchall()


def event_rows(database: Path | str, kind: str) -> list[dict]:
    rows = query(database, "SELECT payload FROM events WHERE kind = ? ORDER BY id", (kind,))
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


def reached(database: Path | str, kind: str, step: int, after: int = 0):
    """A condition: some `kind` event (progress, checkpoint), other than the first `after`
    of them, has reached `step`."""

    def exists() -> bool:
        return isinstance(database, str) or database.exists()

    return lambda: exists() and any(p["step"] >= step for p in event_rows(database, kind)[after:])


def sigkill_engine_at(
    env: dict[str, str], database: Path | str, kind: str, step: int, linger: float = 0.0
) -> None:
    """Start `petbooth engine`, wait until one of *its* `kind` events reaches `step` (an
    earlier engine that lingered past `step` does not count), wait `linger` seconds more,
    then SIGKILL it."""
    known = isinstance(database, str) or database.exists()
    earlier = len(event_rows(database, kind)) if known else 0
    engine = start_petbooth("engine", env=env)
    try:
        mine = reached(database, kind, step, after=earlier)
        wait_until(mine, engine, f"the {kind} at step {step}")
        time.sleep(linger)
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=30)


def without_modules(tmp_path: Path, modules: list[str]) -> dict[str, str]:
    """`engine_env` for a machine without `modules` (e.g. the GPU stack): every process
    started with it finds them missing (a sitecustomize marks each one so)."""
    blocked = tmp_path / "without-modules"
    blocked.mkdir()
    (blocked / "sitecustomize.py").write_text(
        f"import sys\nsys.modules.update(dict.fromkeys({sorted(modules)!r}))\n"
    )
    env = engine_env(tmp_path / "data", tmp_path / "no-model")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(blocked), env.get("PYTHONPATH")]))
    return env
