"""When the store does not answer for a while: PostgreSQL restarting or failing over (every
open connection cut, new ones refused until it is back), SQLite locked past its busy timeout.

Such an error says nothing about the job or the call that met it: the same call succeeds
once the store is back. The engine therefore waits it out instead of failing the user's job
or ending itself. ``store_unavailable`` tells these errors from the rest (a constraint, a
bug in a statement), which still fail loudly; ``Outage`` logs one line when the store stops
answering and one when it answers again, not one a second.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from engine.logs import first_line

T = TypeVar("T")

# Waits between tries: short at first (a lost connection is replaced at once), then no more
# than a few seconds apart (a restarting server is back in seconds to a minute).
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0

# When this process last saw the store answer again after failing (time.monotonic()).
_returned_at = -math.inf

# SQLite's words for "another process holds the lock" (past the busy timeout).
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
# PostgreSQL's SQLSTATEs that name the server or the connection, not the statement: the
# server shutting down, crashed or still starting (57P01-57P03), too many connections
# (53300), and a transaction it rolled back to be tried again (40001, 40P01). Class 08
# (connection exceptions) and errors without a SQLSTATE (psycopg's own: a connection lost
# or refused, "the connection is closed") count too. A statement timeout (57014), a disk
# full (53100) or a read-only server (25006: a failover's old primary) fail the same way
# at every try: they are errors, not outages.
_PG_TRANSIENT = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})


def store_unavailable(err: BaseException) -> bool:
    """Whether `err` means the store did not answer, rather than that the call was wrong."""
    if isinstance(err, sqlite3.OperationalError):
        return any(words in str(err).lower() for words in _SQLITE_BUSY)
    try:
        import psycopg
        from psycopg_pool import PoolClosed, PoolTimeout
    except ImportError:  # a SQLite-only install
        return False
    if isinstance(err, PoolTimeout):  # no connection within the pool's wait: none to be had
        return True
    if isinstance(err, PoolClosed) or not isinstance(err, psycopg.OperationalError):
        return False  # the process is closing its pool; constraints and bad SQL are others
    state = err.sqlstate
    return state is None or state.startswith("08") or state in _PG_TRANSIENT


class Outage:
    """One caller's record of a run of failures: the first is logged as a warning, the
    answer that ends them as info, with how long the store was away."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what  # "job 7" / "engine vm-1": whose wait the lines tell of
        self._since: float | None = None
        self._delay = FIRST_RETRY_SECONDS

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failed(self, err: BaseException) -> float:
        """Record a failure; returns how long to wait before the next try."""
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning(
                "%s: the store did not answer (%s); trying again", self._what, first_line(err)
            )
        delay = self._delay
        self._delay = min(self._delay * 2, MAX_RETRY_SECONDS)
        return delay

    def answered(self) -> None:
        """Record an answer; after failures, say how long the store was away."""
        global _returned_at
        if self._since is not None:
            away = time.monotonic() - self._since
            self._log.info("%s: the store answers again after %.1f s", self._what, away)
            _returned_at = time.monotonic()
        self._since = None
        self._delay = FIRST_RETRY_SECONDS


def since_the_store_returned() -> float:
    """Seconds since any caller in this process last saw the store answer again after an
    outage (infinite when none did)."""
    return time.monotonic() - _returned_at


async def until_answered(
    call: Callable[[], Awaitable[T]],
    outage: Outage,
    give_up: Callable[[], bool],
    pause: Callable[[float], Awaitable[object]],
) -> T:
    """`call()`, made again (after `pause`, ever longer) while the store does not answer.
    Raises the store's error when `give_up()` says so before it answers (a stop, a
    shutdown), and any other error at once."""
    while True:
        try:
            result = await call()
        except Exception as err:
            if not store_unavailable(err) or give_up():
                raise
            await pause(outage.failed(err))
            continue
        outage.answered()
        return result
