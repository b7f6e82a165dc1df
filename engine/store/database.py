"""The one SQLite connection a process uses, with explicit write transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from engine.store.migrate import BUSY_TIMEOUT_MS, CONNECTION_PRAGMAS, migrate

Clock = Callable[[], float]


class Database:
    """An aiosqlite connection in autocommit mode plus a lock, so coroutines sharing it
    never interleave statements of two transactions."""

    def __init__(self, conn: aiosqlite.Connection, clock: Clock = time.time) -> None:
        self._conn = conn
        self._write_lock = asyncio.Lock()
        self.now = clock

    @classmethod
    async def open(cls, path: Path, clock: Clock = time.time) -> Database:
        """Migrate (synchronously, once), then connect."""
        await asyncio.to_thread(migrate, path)
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        conn.row_factory = sqlite3.Row
        for pragma in CONNECTION_PRAGMAS:
            await conn.execute(pragma)
        return cls(conn, clock)

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """``BEGIN IMMEDIATE``: take the write lock up front so read-then-write is atomic
        across processes (no SQLITE_BUSY upgrade deadlock)."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn, self.now())
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            await self._conn.execute("COMMIT")

    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, tuple(args)) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, tuple(args)) as cursor:
            return await cursor.fetchone()

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> int:
        """One write statement in its own transaction; returns the rows changed."""
        async with self.transaction() as tx:
            return await tx.rowcount(sql, args)


class Transaction:
    """An open write transaction. Store functions that must commit together with others take
    one of these (never an optional connection); ``now`` is read once, when it began, so every
    row it writes carries the same time."""

    def __init__(self, conn: aiosqlite.Connection, now: float) -> None:
        self._conn = conn
        self.now = now

    def execute(self, sql: str, args: Iterable[Any] = ()) -> Any:
        """``async with tx.execute(...) as cursor`` or ``await tx.execute(...)``."""
        return self._conn.execute(sql, tuple(args))

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        await self._conn.executemany(sql, [tuple(r) for r in rows])

    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, tuple(args)) as cursor:
            return await cursor.fetchone()

    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, tuple(args)) as cursor:
            return list(await cursor.fetchall())

    async def rowcount(self, sql: str, args: Iterable[Any] = ()) -> int:
        """Run one write statement; returns the rows it changed."""
        async with self._conn.execute(sql, tuple(args)) as cursor:
            return cursor.rowcount

    async def insert_returning_id(self, sql: str, args: Iterable[Any]) -> int:
        """Run an ``INSERT ... RETURNING id`` and return the id."""
        row = await self.fetch_one(sql, args)
        assert row is not None
        return int(row[0])
