"""PostgreSQL migrations: the same schema as SQLite's, recorded in schema_migrations,
applied once under concurrent starts, newer databases refused."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from engine.store.migrate import SchemaError, discover, migrate, migrations_dir
from tests.postgres import PostgresServer


def _pg_columns(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    tables: dict[str, set[str]] = {}
    for table, column in rows:
        tables.setdefault(table, set()).add(column)
    return tables


def _sqlite_columns(path: Path) -> dict[str, set[str]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in names}


def test_same_numbering_and_columns_as_sqlite(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    sqlite_files = [m.path.name for m in discover(migrations_dir("sqlite"))]
    assert [m.path.name for m in discover(migrations_dir("postgres"))] == sqlite_files
    url = postgres_server.fresh_database()  # from the template: every migration applied
    path = tmp_path / "db.sqlite3"
    migrate(path)
    postgres, sqlite = _pg_columns(url), _sqlite_columns(path)
    # PostgreSQL's own: the migration record and the claim's fairness table.
    assert set(postgres) - set(sqlite) == {"schema_migrations", "owner_last_claims"}
    assert {t: postgres[t] for t in sqlite} == sqlite


def test_applied_once_even_when_processes_start_together(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE migrate_race")
    url = postgres_server.url("migrate_race")
    latest = discover(migrations_dir("postgres"))[-1].version
    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(lambda _: migrate(url), range(4))) == {latest}
    assert migrate(url) == latest
    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert sorted(versions) == list(range(1, latest + 1))


def test_newer_database_is_refused(postgres_server: PostgresServer) -> None:
    url = postgres_server.fresh_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(SchemaError, match="newer than this petbooth"):
        migrate(url)


def test_doctor_reads_the_postgres_schema_version(postgres_server: PostgresServer) -> None:
    from engine.operations.doctor import check_database
    from engine.settings import Settings

    url = postgres_server.fresh_database()
    settings = Settings(database=url, _env_file=None)  # type: ignore[call-arg]
    assert settings.database_target == url
    with pytest.raises(ValueError, match="PostgreSQL URL"):
        _ = settings.database_path
    finding = check_database(settings)
    latest = discover(migrations_dir("postgres"))[-1].version
    assert finding.ok and f"schema version {latest}" in finding.detail
    gone = Settings(database=postgres_server.url("no_such_db"), _env_file=None)  # type: ignore[call-arg]
    assert not check_database(gone).ok
