"""One user's requests, one at a time: the engine checks a user's limits (one training, N
pictures waiting) and then inserts the job in a separate statement, so two interactions of
the same user that interleave (a double-submitted /train, a burst of /imagine) could both
pass the check. Holding this lock across check-and-queue closes that window in the bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class UserLocks:
    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}  # holders and waiters per user: unused locks go

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._users[user_id] = self._users.get(user_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[user_id] -= 1
            if not self._users[user_id]:
                del self._users[user_id], self._locks[user_id]
