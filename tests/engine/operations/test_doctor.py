"""`petbooth doctor` says what is wrong and what to do, and never shows the token."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from engine.operations.doctor import (
    check_database,
    check_models,
    check_storage,
    check_token,
    liveness,
    run_checks,
)
from engine.settings import Settings
from engine.store.migrate import migrate


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", device="cpu", _env_file=None, **values)


def test_missing_token_says_how_to_get_one(tmp_path: Path) -> None:
    finding = check_token(settings_for(tmp_path))
    assert not finding.ok and "Reset Token" in finding.fix


def test_token_is_never_shown(tmp_path: Path) -> None:
    secret = "MTAx.very-secret-token.value"
    findings = run_checks(settings_for(tmp_path, discord_token=secret, base_model=str(tmp_path)))
    assert all(secret not in f.line() for f in findings)
    assert findings[0].ok


def test_missing_models_point_to_download_models(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    finding = check_models(settings_for(tmp_path))
    assert not finding.ok and "petbooth download-models" in finding.fix


def test_local_model_directory_is_available(tmp_path: Path, tiny_model_dir: Path) -> None:
    assert check_models(settings_for(tmp_path, base_model=str(tiny_model_dir), vae="")).ok


def test_newer_database_is_reported(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    migrate(settings.database_path)
    assert check_database(settings).ok
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute("PRAGMA user_version = 99")
    finding = check_database(settings)
    assert not finding.ok and "newer" in finding.detail


def test_liveness_follows_engine_heartbeats(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert not liveness(settings).ok
    migrate(settings.database_path)
    assert not liveness(settings).ok
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute(
            "INSERT INTO engines (engine_id, pid, device, started_at, heartbeat_at) "
            "VALUES ('e1', 1, 'cpu', ?, ?)",
            (time.time(), time.time()),
        )
    assert liveness(settings).ok
    with sqlite3.connect(settings.database_path) as conn:
        conn.execute("UPDATE engines SET heartbeat_at = ?", (time.time() - 600,))
    assert not liveness(settings).ok


def test_storage_in_s3_is_checked(tmp_path: Path, s3_server) -> None:
    url = f"s3://{s3_server.new_bucket()}/pb"
    assert check_storage(settings_for(tmp_path, **s3_server.settings_fields(url))).ok
    fields = s3_server.settings_fields("s3://no-such-bucket/pb")
    finding = check_storage(settings_for(tmp_path, **fields))
    assert not finding.ok and "PETBOOTH_STORAGE" in finding.fix
    assert "testing" not in finding.line()  # the secret key is never shown


async def test_liveness_on_a_shared_postgres_asks_about_this_machines_engines(
    tmp_path: Path, postgres_server
) -> None:
    import socket

    from engine.store import Database, engines

    url = postgres_server.fresh_database()
    settings = settings_for(tmp_path, database=url)
    async with await Database.open(url) as db:
        await engines.beat(db, "other-host-4242", pid=1, device="cuda:0", job_id=None)
        assert not liveness(settings).ok  # another machine's engine says nothing about ours

        await engines.beat(db, f"{socket.gethostname()}-7", pid=7, device="cpu", job_id=None)
        assert liveness(settings).ok
