"""Apply ``migrations/postgres/NNNN_name.sql`` in order, each version recorded in
``schema_migrations``.

Every process runs this at start; an advisory lock held for the whole run makes the others
wait, then find nothing left to apply. Each file runs in its own transaction (PostgreSQL's
DDL is transactional), so a broken file leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from engine.store.migrate import SchemaError, discover, migrations_dir

_LOCK_KEY = 0x7065_7462_6F6F_7468  # "petbooth": one advisory lock id for migrations


def migrate_postgres(url: str, directory: Path | None = None) -> int:
    """Bring the database at ``url`` up to the newest schema; return its version."""
    migrations = discover(directory or migrations_dir("postgres"))
    latest = migrations[-1].version if migrations else 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    INTEGER PRIMARY KEY,
                       name       TEXT NOT NULL,
                       applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
            )
            version = _version(conn, latest)
            for migration in migrations:
                if migration.version <= version:
                    continue
                with conn.transaction():
                    conn.execute(migration.path.read_text(encoding="utf-8").encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.path.name),
                    )
            return _version(conn, latest)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _version(conn: psycopg.Connection, latest: int) -> int:
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    version = int(row[0]) if row else 0
    if version > latest:
        raise SchemaError(
            f"The database is at schema version {version}, newer than this petbooth "
            f"knows ({latest}). Upgrade petbooth, or point PETBOOTH_DATABASE elsewhere."
        )
    return version
