"""One store interface, two backends: SQLite (a file, the default) and PostgreSQL (a URL).

``Database.open(target)`` takes a path (SQLite through aiosqlite: one connection per process,
every write transaction ``BEGIN IMMEDIATE``) or a ``postgresql://`` URL (psycopg 3 with a
connection pool, ``engine.store.postgres``). Store functions write their SQL once, with ``?``
placeholders; rows read the same on both (``row[0]``, ``row["name"]``, ``dict(row)``).
Where the dialects differ, the statement is chosen by ``tx.dialect`` next to its sibling.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

from engine.store.migrate import BUSY_TIMEOUT_MS, CONNECTION_PRAGMAS, is_postgres_url, migrate

Clock = Callable[[], float]

# NOTIFY channels: engines wake on a new job, the bot on a new event (polling stays the
# fallback: a notification sent while a listener reconnects is lost).
JOBS_CHANNEL = "petbooth_jobs"
EVENTS_CHANNEL = "petbooth_events"


class Row(Protocol):
    """What a query returns on either backend (sqlite3.Row, or ``postgres.Row``)."""

    def keys(self) -> list[str]: ...
    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


class ConstraintError(Exception):
    """A UNIQUE / CHECK / foreign key constraint refused a write (either backend)."""


class Transaction(ABC):
    """An open write transaction. Store functions that must commit together with others take
    one of these (never an optional connection); ``now`` is read once, when it began, so every
    row it writes carries the same time (on PostgreSQL, the database's clock)."""

    dialect: str
    now: float

    @abstractmethod
    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None: ...

    @abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None: ...

    @abstractmethod
    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> Row | None: ...

    @abstractmethod
    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def rowcount(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one write statement; returns the rows it changed."""

    @abstractmethod
    async def lock(self, scope: str, key: int) -> None:
        """Hold a lock on (scope, key) until this transaction ends, for read-then-write
        (per-owner limits, names). SQLite: nothing to do, ``BEGIN IMMEDIATE`` already
        serialises every writer. PostgreSQL: ``pg_advisory_xact_lock``."""

    @abstractmethod
    async def notify(self, channel: str) -> None:
        """Wake listeners of ``channel`` when this transaction commits (PostgreSQL only)."""

    async def insert_returning_id(self, sql: str, args: Iterable[Any]) -> int:
        """Run an ``INSERT ... RETURNING id`` and return the id."""
        row = await self.fetch_one(sql, args)
        assert row is not None
        return int(row[0])


class Database(ABC):
    """The process's way to the store. ``now`` is the clock rows are stamped with outside a
    transaction; tests pass their own."""

    dialect: str
    now: Clock

    @classmethod
    async def open(cls, target: Path | str, clock: Clock | None = None) -> Database:
        """Migrate (once), then connect. ``clock`` None: the machine's clock on SQLite, the
        database's on PostgreSQL (every engine's leases on one clock)."""
        if is_postgres_url(target):
            from engine.store.postgres import PostgresDatabase

            return await PostgresDatabase.connect(str(target), clock)
        return await SqliteDatabase.connect(Path(target), clock or time.time)

    @abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    @abstractmethod
    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> Row | None: ...

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        """One write statement in its own transaction; returns the rows changed."""
        async with self.transaction() as tx:
            return await tx.rowcount(sql, args)

    async def current_time(self) -> float:
        """What ``tx.now`` would be now: the database's clock on PostgreSQL."""
        return self.now()

    async def wait_for(self, channel: str, seconds: float) -> bool:
        """Sleep until ``channel`` is notified (True) or ``seconds`` pass (False).
        SQLite has no notifications: it sleeps the poll interval."""
        await asyncio.sleep(seconds)
        return False


class SqliteDatabase(Database):
    """An aiosqlite connection in autocommit mode plus a lock, so coroutines sharing it
    never interleave statements of two transactions."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, clock: Clock = time.time) -> None:
        self._conn = conn
        self._write_lock = asyncio.Lock()
        self.now = clock

    @classmethod
    async def connect(cls, path: Path, clock: Clock = time.time) -> SqliteDatabase:
        await asyncio.to_thread(migrate, path)
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        for pragma in CONNECTION_PRAGMAS:
            await conn.execute(pragma)
        return cls(conn, clock)

    async def close(self) -> None:
        await self._conn.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN IMMEDIATE``: take the write lock up front so read-then-write is atomic
        across processes (no SQLITE_BUSY upgrade deadlock)."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTransaction(self._conn, self.now())
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return await _fetch_all(self._conn, sql, args)

    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        return await _fetch_one(self._conn, sql, args)


async def _fetch_all(conn: aiosqlite.Connection, sql: str, args: Iterable[Any]) -> list[Row]:
    async with conn.execute(sql, tuple(args)) as cursor:
        return list(await cursor.fetchall())


async def _fetch_one(conn: aiosqlite.Connection, sql: str, args: Iterable[Any]) -> Row | None:
    try:
        async with conn.execute(sql, tuple(args)) as cursor:
            row: Row | None = await cursor.fetchone()
            return row
    except sqlite3.IntegrityError as err:
        raise ConstraintError(str(err)) from err


class SqliteTransaction(Transaction):
    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, now: float) -> None:
        self._conn = conn
        self.now = now

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        await self.rowcount(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        try:
            await self._conn.executemany(sql, [tuple(r) for r in rows])
        except sqlite3.IntegrityError as err:
            raise ConstraintError(str(err)) from err

    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        return await _fetch_one(self._conn, sql, args)

    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return await _fetch_all(self._conn, sql, args)

    async def rowcount(self, sql: str, args: Iterable[Any] = ()) -> int:
        try:
            async with self._conn.execute(sql, tuple(args)) as cursor:
                return cursor.rowcount
        except sqlite3.IntegrityError as err:
            raise ConstraintError(str(err)) from err

    async def lock(self, scope: str, key: int) -> None:
        return None  # BEGIN IMMEDIATE: this transaction is the only writer

    async def notify(self, channel: str) -> None:
        return None
