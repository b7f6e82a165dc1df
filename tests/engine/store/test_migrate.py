"""Schema migrations: ordered, idempotent, refuse newer databases, safe under races."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.store.migrate import SchemaError, discover, migrate


def _user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_fresh_database_gets_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    latest = discover()[-1].version
    assert migrate(path) == latest == _user_version(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"subjects", "photos", "jobs", "events", "engines"} <= tables


def test_applying_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    migrate(path)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO jobs (kind, owner_id, created_at) VALUES ('train', 1, 0)")
    migrate(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_newer_database_is_refused_with_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    migrate(path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 999")
    with pytest.raises(SchemaError, match="newer than this petbooth"):
        migrate(path)


def test_migrations_apply_in_order_each_in_its_own_transaction(tmp_path: Path) -> None:
    mig = tmp_path / "migrations"
    mig.mkdir()
    (mig / "0001_a.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (mig / "0002_b.sql").write_text("INSERT INTO a VALUES (1);\nCREATE TABLE b (;\n")
    path = tmp_path / "db.sqlite3"
    with pytest.raises(sqlite3.OperationalError):
        migrate(path, mig)
    assert _user_version(path) == 1  # the broken second file left nothing behind
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0
    (mig / "0002_b.sql").write_text(
        "INSERT INTO a VALUES (1);\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN INSERT INTO a VALUES (2); END;\n"
    )
    # the trigger's inner ';' does not split the statement
    assert migrate(path, mig) == 2


def test_gaps_in_numbering_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0003_c.sql").write_text("SELECT 1;")
    with pytest.raises(SchemaError, match="without gaps"):
        discover(tmp_path)


def test_concurrent_starts_migrate_once(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    code = (
        "import pathlib; from engine.store.migrate import migrate; "
        f"print(migrate(pathlib.Path({str(path)!r})))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    latest = str(discover()[-1].version)
    assert all(out.strip() == latest for out, _ in outputs)
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: migrate(path), range(4))) == {int(latest)}
