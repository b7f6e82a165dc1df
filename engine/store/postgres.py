"""The PostgreSQL backend: psycopg 3 (async) with a connection pool, for engines and bots on
several machines sharing one queue.

Statements are the store's own, written for SQLite with ``?`` placeholders and translated
here. Transactions run at READ COMMITTED; the read-then-write paths take an advisory lock
(``Transaction.lock``) or are single guarded statements (the list is in ``engine.store``'s
docstring).
``now`` comes from the database's clock, so leases granted by one machine are judged by
another on the same clock. Notifications (``tx.notify``) reach ``wait_for`` through one
dedicated LISTEN connection per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool

from engine.store.database import Clock, ConstraintError, Database, Row, Transaction
from engine.store.migrate import migrate

log = logging.getLogger(__name__)

POOL_SIZE = 8  # a bot or engine runs a handful of concurrent transactions, not hundreds
# A server or network that vanishes without closing the connection (a host lost, a
# firewall dropping state) is noticed within about a minute, as an error the engine waits
# out (engine.store.outage), not after the kernel's default of about 15 minutes of a hung
# statement. A URL that sets any of these keeps its own value.
_DEAD_PEER = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",  # ms unacknowledged before the connection counts as lost
}
_NOW = "SELECT extract(epoch FROM clock_timestamp())::float8"


def _with_dead_peer(url: str) -> str:
    """The URL's connection string with `_DEAD_PEER`'s settings it does not make itself."""
    named = conninfo_to_dict(url)
    return make_conninfo(url, **{k: v for k, v in _DEAD_PEER.items() if k not in named})


class PgRow(tuple[Any, ...]):
    """A row like sqlite3.Row: by index, by column name, and ``dict(row)``."""

    __slots__ = ()
    _names: tuple[str, ...] = ()

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def __iter__(self) -> Iterator[Any]:
        return tuple.__iter__(self)


def _pg_row(cursor: psycopg.AsyncCursor[Any]) -> RowMaker[PgRow]:
    names = tuple(d.name for d in cursor.description or ())
    row_type = _row_type(names)
    return lambda values: row_type(values)


@functools.lru_cache(maxsize=256)
def _row_type(names: tuple[str, ...]) -> type[PgRow]:
    return type("PgRow", (PgRow,), {"__slots__": (), "_names": names})


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (the store's SQL has no ``?`` or ``%`` in
    literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresTransaction(Transaction):
    dialect = "postgres"

    def __init__(self, conn: psycopg.AsyncConnection[Any], now: float) -> None:
        self._conn = conn
        self.now = now

    async def execute(self, sql: str, args: Iterable[Any] = ()) -> None:
        await self.rowcount(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        async with _errors(), self._conn.cursor() as cursor:
            await cursor.executemany(translate(sql), [tuple(r) for r in rows])

    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        return await _fetch_one(self._conn, sql, args)

    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        return await _fetch_all(self._conn, sql, args)

    async def rowcount(self, sql: str, args: Iterable[Any] = ()) -> int:
        async with _errors():
            cursor = await self._conn.execute(translate(sql), tuple(args))
            return cursor.rowcount

    async def lock(self, scope: str, key: int) -> None:
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{scope}:{key}",)
        )

    async def notify(self, channel: str) -> None:
        await self._conn.execute("SELECT pg_notify(%s, '')", (channel,))


@contextlib.asynccontextmanager
async def _errors() -> AsyncIterator[None]:
    try:
        yield
    except psycopg.errors.IntegrityError as err:
        raise ConstraintError(str(err)) from err


async def _fetch_one(conn: psycopg.AsyncConnection[Any], sql: str, args: Iterable[Any]) -> Any:
    async with _errors():
        cursor = await conn.execute(translate(sql), tuple(args))
        return await cursor.fetchone()


async def _fetch_all(conn: psycopg.AsyncConnection[Any], sql: str, args: Iterable[Any]) -> Any:
    async with _errors():
        cursor = await conn.execute(translate(sql), tuple(args))
        return await cursor.fetchall()


class PostgresDatabase(Database):
    dialect = "postgres"

    def __init__(self, url: str, pool: AsyncConnectionPool, clock: Clock | None) -> None:
        self._url = url
        self._pool = pool
        self._clock = clock
        self.now = clock or time.time  # display only: rows carry tx.now
        self._listener: asyncio.Task[None] | None = None
        self._listening: set[str] = set()
        self._wakeups: dict[str, asyncio.Event] = {}
        self._listen_conn: psycopg.AsyncConnection[Any] | None = None
        # The open transaction's connection, per database: a read inside a transaction sees
        # its writes, and another database's transaction in the same task is not mistaken for it.
        self._in_transaction: contextvars.ContextVar[psycopg.AsyncConnection[Any] | None] = (
            contextvars.ContextVar(f"petbooth_pg_connection_{id(self)}", default=None)
        )

    @classmethod
    async def connect(cls, url: str, clock: Clock | None = None) -> PostgresDatabase:
        await asyncio.to_thread(migrate, url)
        pool: AsyncConnectionPool = AsyncConnectionPool(
            _with_dead_peer(url),
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "row_factory": _pg_row},
            # An idle connection a server restart cut is found dead here and replaced, not
            # handed out to fail its first statement (one empty query per checkout).
            check=AsyncConnectionPool.check_connection,
            open=False,
        )
        await pool.open(wait=True)
        return cls(url, pool, clock)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._listen_conn is not None:
            await self._listen_conn.close()
        await self._pool.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The current transaction's connection when inside one (as on SQLite, a read in the
        middle of a transaction sees its writes), else one from the pool."""
        current = self._in_transaction.get()
        if current is not None:
            yield current
            return
        async with self._pool.connection() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._connection() as conn, conn.transaction():
            token = self._in_transaction.set(conn)
            try:
                yield PostgresTransaction(conn, await self._tx_now(conn))
            finally:
                self._in_transaction.reset(token)

    async def _tx_now(self, conn: psycopg.AsyncConnection[Any]) -> float:
        if self._clock is not None:
            return self._clock()
        cursor = await conn.execute(_NOW)
        row = await cursor.fetchone()
        assert row is not None
        return float(row[0])

    async def current_time(self) -> float:
        if self._clock is not None:
            return self._clock()
        row = await self.fetch_one(_NOW)
        assert row is not None
        return float(row[0])

    async def fetch_all(self, sql: str, args: Iterable[Any] = ()) -> list[Row]:
        async with self._connection() as conn:
            rows: list[Row] = await _fetch_all(conn, sql, args)
            return rows

    async def fetch_one(self, sql: str, args: Iterable[Any] = ()) -> Row | None:
        async with self._connection() as conn:
            row: Row | None = await _fetch_one(conn, sql, args)
            return row

    async def wait_for(self, channel: str, seconds: float) -> bool:
        """LISTEN on a dedicated connection (opened on the first call); a notification that
        came since the last call returns at once. Any listener trouble falls back to
        sleeping ``seconds``: polling still finds the work."""
        wakeup = self._wakeups.setdefault(channel, asyncio.Event())
        try:
            await self._listen(channel)
        except psycopg.Error:
            log.warning("LISTEN %s failed; polling only", channel, exc_info=True)
        try:
            await asyncio.wait_for(wakeup.wait(), seconds)
        except TimeoutError:
            return False
        wakeup.clear()
        return True

    async def _listen(self, channel: str) -> None:
        if channel in self._listening and self._listener is not None and not self._listener.done():
            return
        if self._listen_conn is None or self._listen_conn.closed:
            self._listen_conn = await psycopg.AsyncConnection.connect(
                _with_dead_peer(self._url), autocommit=True
            )
            self._listening.clear()
        if self._listener is not None and not self._listener.done():
            self._listener.cancel()  # notifies() holds the connection; restart it after LISTEN
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        for name in {*self._listening, channel}:
            await self._listen_conn.execute(f'LISTEN "{name}"')
            self._listening.add(name)
        self._listener = asyncio.create_task(self._deliver(self._listen_conn))

    async def _deliver(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            async for note in conn.notifies():
                event = self._wakeups.get(note.channel)
                if event is not None:
                    event.set()
        except psycopg.Error:
            log.warning("the LISTEN connection failed; polling until it reconnects")
            self._listener = None
            with contextlib.suppress(psycopg.Error):
                await conn.close()
