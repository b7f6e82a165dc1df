"""`petbooth doctor`: is this machine ready to run petbooth, and if not, what to fix.

Each check returns a `Finding`; nothing here changes the machine (the database is read,
not migrated). `liveness` and `bot_liveness` are the containers' healthchecks: an engine's
or the bot's heartbeat is recent.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.logs import first_line
from engine.settings import Settings
from engine.storage import open_storage
from engine.store.migrate import discover, migrations_dir

MIN_FREE_DISK_GB = 20  # SDXL fp16 (7 GB) + VAE + a few jobs' checkpoints and outputs
MIN_FREE_VRAM_GB = 12  # training peaks near 10 GB at 1024 px (BENCHMARKS.md target) + slack


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    fatal: bool = True  # False: a warning that does not stop petbooth from running

    def line(self) -> str:
        mark = "ok  " if self.ok else ("FAIL" if self.fatal else "warn")
        text = f"[{mark}] {self.check}: {self.detail}"
        return f"{text}\n       fix: {self.fix}" if self.fix and not self.ok else text


def check_token(settings: Settings) -> Finding:
    if settings.has_discord_token:
        return Finding("Discord token", True, "set (not shown)")
    return Finding(
        "Discord token",
        False,
        "PETBOOTH_DISCORD_TOKEN is not set",
        "Discord developer portal -> your application -> Bot -> Reset Token; put "
        "PETBOOTH_DISCORD_TOKEN=... in .env (the engine runs without it, the bot does not).",
    )


def check_gpu(settings: Settings) -> Finding:
    if settings.device == "cpu":
        return Finding(
            "GPU",
            False,
            "PETBOOTH_DEVICE=cpu: SDXL will be impractically slow",
            "unset PETBOOTH_DEVICE on a machine with an NVIDIA GPU",
            fatal=False,
        )
    import torch

    if not torch.cuda.is_available():
        return Finding(
            "GPU",
            False,
            f"torch {torch.__version__} sees no CUDA device",
            "install the NVIDIA driver (nvidia-smi must work) and a CUDA build of "
            "torch (`pip install torch` on the GPU machine)",
            fatal=False,
        )
    free, total = torch.cuda.mem_get_info()
    name = torch.cuda.get_device_name()
    detail = f"{name}, {free / 2**30:.1f} of {total / 2**30:.1f} GiB free"
    if free / 2**30 < MIN_FREE_VRAM_GB:
        return Finding(
            "GPU", False, detail, f"free at least {MIN_FREE_VRAM_GB} GiB (stop other GPU processes)"
        )
    return Finding("GPU", True, detail)


def check_disk(settings: Settings) -> Finding:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(settings.data_dir).free / 1e9
    detail = f"{free_gb:.0f} GB free under {settings.data_dir}"
    if free_gb < MIN_FREE_DISK_GB:
        return Finding("Disk", False, detail, f"free at least {MIN_FREE_DISK_GB} GB")
    return Finding("Disk", True, detail)


def check_storage(settings: Settings) -> Finding:
    """PETBOOTH_STORAGE can be written, read back and deleted from this machine."""
    probe = f"doctor/{platform.node() or 'probe'}-{os.getpid()}"
    try:
        storage = open_storage(settings)
        storage.put(probe, b"petbooth doctor")
        readable = storage.get(probe) == b"petbooth doctor"
        storage.delete([probe])
    except Exception as err:  # any refusal: a wrong URL, endpoint, bucket or credentials
        return Finding(
            "Storage",
            False,
            f"{settings.storage or settings.data_dir}: {type(err).__name__}: {err}"[:300],
            "check PETBOOTH_STORAGE (s3://bucket/prefix), its endpoint and credentials "
            "(PETBOOTH_STORAGE_* or AWS_*)",
        )
    if not readable:
        return Finding("Storage", False, f"{storage.describe}: a file written was not read back")
    return Finding("Storage", True, f"files in {storage.describe}")


def check_models(settings: Settings) -> Finding:
    missing = [ref for ref in (settings.base_model, settings.vae) if ref and not _available(ref)]
    if missing:
        return Finding(
            "Models",
            False,
            f"not downloaded: {', '.join(missing)}",
            "run `petbooth download-models` (needs network), or set "
            "PETBOOTH_BASE_MODEL to a local directory",
        )
    return Finding(
        "Models",
        True,
        f"{settings.base_model} and VAE {settings.vae or '(own)'} are available locally",
    )


def check_scorers(settings: Settings) -> Finding:
    """A warning, not a failure: without its scorers the engine still trains, unscored, and
    every pet uses its final step."""
    scoring = settings.scoring
    if not scoring.enabled:
        return Finding("Scoring models", True, "scoring is off (PETBOOTH_SCORING__ENABLED)")
    references = (scoring.identity_model, scoring.prompt_model)
    missing = [ref for ref in references if not _available(ref)]
    if missing:
        return Finding(
            "Scoring models",
            False,
            f"not downloaded: {', '.join(missing)} (previews would not be scored)",
            "run `petbooth download-models` (needs network), set PETBOOTH_SCORING__IDENTITY_MODEL"
            " / PETBOOTH_SCORING__PROMPT_MODEL to local directories, or "
            "PETBOOTH_SCORING__ENABLED=false",
            fatal=False,
        )
    return Finding("Scoring models", True, f"{' and '.join(references)} are available locally")


def check_safety(settings: Settings) -> Finding:
    """A warning, not a failure: the engine runs without its classifier, but every picture
    that needs a check is then withheld (never posted unchecked)."""
    safety = settings.safety
    if not safety.enabled:
        return Finding("Safety model", True, "the safety filter is off (PETBOOTH_SAFETY__ENABLED)")
    fix = (
        "run `petbooth download-models` (needs network), set PETBOOTH_SAFETY__MODEL to a "
        "local directory, or PETBOOTH_SAFETY__ENABLED=false (no picture is then checked)"
    )
    if not _available(safety.model):
        return Finding(
            "Safety model",
            False,
            f"not downloaded: {safety.model} (pictures outside age-restricted channels "
            "would all be withheld)",
            fix,
            fatal=False,
        )
    problem = _unloadable(safety.model, safety.flag_labels)
    if problem:
        return Finding("Safety model", False, f"{safety.model}: {problem}", fix, fatal=False)
    return Finding("Safety model", True, f"{safety.model} is available locally and loads")


def _unloadable(reference: str, flag_labels: tuple[str, ...]) -> str | None:
    """Why the safety model does not load from local files or cannot flag anything (None:
    it works). On the CPU a ViT-base loads in about a second."""
    from transformers import AutoModelForImageClassification

    try:
        model = AutoModelForImageClassification.from_pretrained(reference, local_files_only=True)
    except (OSError, ValueError) as err:
        lines = str(err).strip().splitlines()
        return (lines[0] if lines else type(err).__name__)[:200]
    labels = {str(name).lower() for name in model.config.id2label.values()}
    if not labels & {label.lower() for label in flag_labels}:
        return (
            f"its labels {sorted(labels)} include none of PETBOOTH_SAFETY__FLAG_LABELS "
            f"{list(flag_labels)}"
        )
    return None


def _available(reference: str) -> bool:
    path = Path(reference).expanduser()
    if path.is_dir():
        return (path / "model_index.json").is_file() or (path / "config.json").is_file()
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return any(
            isinstance(try_to_load_from_cache(reference, name), str)
            for name in ("model_index.json", "config.json")
        )
    except HFValidationError:  # neither a directory nor a hub id: a path that does not exist
        return False


def _postgres_row(url: str, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    import psycopg

    with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
        return conn.execute(sql, args).fetchone()


def check_postgres(url: str) -> Finding:
    latest = discover(migrations_dir("postgres"))[-1].version
    try:
        row = _postgres_row(
            url,
            "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 "
            "ELSE (SELECT COALESCE(MAX(version), 0) FROM schema_migrations) END",
        )
    except Exception as err:  # psycopg.OperationalError: host, password, database
        return Finding(
            "Database", False, f"PostgreSQL: {first_line(err)}", "check PETBOOTH_DATABASE"
        )
    version = int(row[0]) if row else 0
    if version > latest:
        return Finding(
            "Database",
            False,
            f"PostgreSQL at version {version}, newer than {latest}",
            "upgrade petbooth, or set PETBOOTH_DATABASE to another database",
        )
    return Finding("Database", True, f"PostgreSQL at schema version {version} (latest {latest})")


def check_database(settings: Settings) -> Finding:
    if isinstance(settings.database_target, str):
        return check_postgres(settings.database_target)
    latest = discover()[-1].version
    path = settings.database_path
    if not path.exists():
        return Finding("Database", True, f"{path} will be created at schema version {latest}")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > latest:
        return Finding(
            "Database",
            False,
            f"{path} is at version {version}, newer than {latest}",
            "upgrade petbooth, or set PETBOOTH_DATABASE to another file",
        )
    return Finding("Database", True, f"{path} at schema version {version} (latest {latest})")


CHECKS: list[Callable[[Settings], Finding]] = [
    check_token,
    check_gpu,
    check_disk,
    check_storage,
    check_models,
    check_scorers,
    check_safety,
    check_database,
]


# What only a machine that runs the engine needs; a bot-only install has no torch to ask.
ENGINE_CHECKS = (check_gpu, check_models, check_scorers, check_safety)


def engine_installed() -> bool:
    """``petbooth[engine]`` is installed: the GPU stack can be imported (not imported here)."""
    return all(importlib.util.find_spec(name) for name in ("torch", "diffusers", "huggingface_hub"))


def run_checks(settings: Settings) -> list[Finding]:
    if engine_installed():
        return [check(settings) for check in CHECKS]
    bot_only = Finding(
        "Engine",
        False,
        "not installed here (no torch): this machine can run the bot, not train or draw",
        "pip install 'petbooth[engine]' on the machine that runs the engine",
        fatal=False,
    )
    return [bot_only, *(check(settings) for check in CHECKS if check not in ENGINE_CHECKS)]


def liveness(settings: Settings, max_age_seconds: float = 120.0) -> Finding:
    if isinstance(settings.database_target, str):  # ages on the database's clock
        # Engines of every machine beat in a shared database: this machine's healthcheck
        # asks about its own (engine ids start with the host name: engine.process).
        row = _postgres_row(
            settings.database_target,
            "SELECT extract(epoch FROM clock_timestamp())::float8 - MAX(heartbeat_at) "
            "FROM engines WHERE starts_with(engine_id, %s)",
            (f"{socket.gethostname()}-",),
        )
        if row is None or row[0] is None:
            return Finding("Engine", False, "no engine has reported")
        return Finding("Engine", row[0] <= max_age_seconds, f"last heartbeat {row[0]:.0f} s ago")
    path = settings.database_path
    if not path.exists():
        return Finding("Engine", False, "no database yet")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT MAX(heartbeat_at) FROM engines").fetchone()
    if row is None or row[0] is None:
        return Finding("Engine", False, "no engine has reported")
    age = time.time() - float(row[0])
    return Finding("Engine", age <= max_age_seconds, f"last heartbeat {age:.0f} s ago")


def bot_liveness(settings: Settings, max_age_seconds: float = 120.0) -> Finding:
    """The bot container's healthcheck: the bot, logged in, touched its heartbeat lately."""
    try:
        age = time.time() - settings.bot_heartbeat_path.stat().st_mtime
    except FileNotFoundError:
        return Finding("Bot", False, "no heartbeat yet (not logged in to Discord)")
    return Finding("Bot", age <= max_age_seconds, f"last heartbeat {age:.0f} s ago")
