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

from engine.store.migrate import BUSY_TIMEOUT_MS, migrate

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
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute("PRAGMA synchronous = NORMAL")
        return cls(conn, clock)

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE``: take the write lock up front so read-then-write is atomic
        across processes (no SQLITE_BUSY upgrade deadlock)."""
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
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
        async with self.transaction() as conn, conn.execute(sql, tuple(args)) as cursor:
            return cursor.rowcount


async def insert_returning_id(conn: aiosqlite.Connection, sql: str, args: tuple) -> int:
    """Run an ``INSERT ... RETURNING id`` and return the id."""
    async with conn.execute(sql, args) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])
