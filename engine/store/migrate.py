"""Apply ``migrations/<dialect>/NNNN_name.sql`` in order.

SQLite keeps the version in ``PRAGMA user_version``; PostgreSQL (``migrate_postgres``) in a
``schema_migrations`` table, under an advisory lock.

Synchronous on purpose: it runs once at process start, before any event loop work. Each
migration runs in its own ``BEGIN IMMEDIATE`` transaction and re-reads the version inside
it, so two processes starting at once never both apply the same file.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from engine.settings import is_postgres_url

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 30_000  # an engine holds write locks for milliseconds; 30 s is "stuck"


class SchemaError(RuntimeError):
    """The database cannot be used by this version of petbooth."""


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    def statements(self) -> list[str]:
        """Split into statements without breaking triggers (sqlite3.complete_statement)."""
        statements, pending = [], ""
        for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                statements.append(pending.strip())
                pending = ""
        if pending.strip() and not _only_comments(pending):
            raise SchemaError(f"{self.path.name}: unterminated statement at the end")
        return statements


def _only_comments(text: str) -> bool:
    return all(not ln.strip() or ln.strip().startswith("--") for ln in text.splitlines())


def migrations_dir(dialect: str = "sqlite") -> Path:
    """``migrations/<dialect>/`` of the source checkout, or the copy inside the wheel."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "migrations", here / "_migrations"):
        if (candidate / dialect).is_dir():
            return candidate / dialect
    raise SchemaError(f"migrations/{dialect} not found next to {here}")


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise SchemaError(f"{path.name}: migration files are named NNNN_description.sql")
        found.append(Migration(int(match.group(1)), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise SchemaError(f"migrations must be numbered 1..N without gaps, found {versions}")
    return found


# Per-connection settings every petbooth connection uses, sync (here) or async (Database).
CONNECTION_PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",  # safe with WAL; fsync at checkpoints only
)


def configure(conn: sqlite3.Connection) -> None:
    for pragma in CONNECTION_PRAGMAS:
        conn.execute(pragma)


def migrate(database: Path | str, directory: Path | None = None) -> int:
    """Bring ``database`` (a SQLite file or a PostgreSQL URL) up to the newest schema;
    return its version."""
    if is_postgres_url(database):
        from engine.store.postgres_migrate import migrate_postgres

        return migrate_postgres(str(database), directory)
    database = Path(database)
    migrations = discover(directory)
    latest = migrations[-1].version if migrations else 0
    database.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(database, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        configure(conn)
        _use_wal(conn)  # readers never block the writer
        for migration in migrations:
            _apply(conn, migration, latest)
        return _version(conn, latest)
    finally:
        conn.close()


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a new database file to WAL. The switch needs the file to itself, and SQLite
    answers "database is locked" at once, without its busy handler, while another process
    starting at the same moment holds it: so it is retried, for as long as a busy lock is
    waited for (2 of 240 starts of 6 processes at once failed without this)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _version(conn: sqlite3.Connection, latest: int) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > latest:
        raise SchemaError(
            f"The database is at schema version {version}, newer than this petbooth "
            f"knows ({latest}). Upgrade petbooth, or point PETBOOTH_DATABASE at another file."
        )
    return version


def _apply(conn: sqlite3.Connection, migration: Migration, latest: int) -> None:
    conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading the version
    try:
        if _version(conn, latest) >= migration.version:
            conn.execute("ROLLBACK")
            return
        for statement in migration.statements():
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {migration.version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
