"""What a claimed job's code, running on a thread, needs from the engine process: whether to
stop (cancel, shutdown, lost lease) and a way to run store calls on the engine's event loop.

Jobs run on a worker thread so the event loop stays free for the heartbeat; every store call
from that thread hops onto the loop and waits, so each row is committed
before the job goes on (``JobControl.wait``). When the store does not answer (PostgreSQL
restarting), the call is made again until it does: the training waits at that step instead
of failing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from engine.settings import Settings
from engine.store import Database, Job
from engine.store.outage import Outage, store_unavailable, until_answered

log = logging.getLogger(__name__)

StopReason = Literal["cancel", "shutdown", "lease-lost"]


class JobControl:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        db: Database,
        settings: Settings,
        job: Job,
        engine_id: str,
    ) -> None:
        self.loop = loop
        self.db = db
        self.settings = settings
        self.job = job
        self.engine_id = engine_id
        self._stop = threading.Event()  # set by the heartbeat (cancel, lost lease) or shutdown
        self.stop_reason: StopReason | None = None
        self._outage = Outage(log, f"job {job.id}")

    def request_stop(self, reason: StopReason) -> None:
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def wait(self, call: Callable[[], Coroutine[Any, Any, Any]], *, skippable: bool = False) -> Any:
        """From the job's thread: run a store call (`call()` makes its coroutine) on the
        engine's loop and wait for it. While the store does not answer, the call is made
        again, ever fewer times a second, until it answers or the job is asked to stop.
        Then a `skippable` call (a progress line, an event that a resumed job sends again,
        a look for waiting pictures) returns None, so the job reaches its stop and
        checkpoints; any other raises the error, and the engine gives the job back once
        the store answers."""
        retried = until_answered(call, self._outage, self.should_stop, self._pause)
        try:
            return asyncio.run_coroutine_threadsafe(retried, self.loop).result()
        except Exception as err:
            if not (skippable and store_unavailable(err)):
                raise
            log.warning("job %s: stopping; a store call was skipped (%s)", self.job.id, err)
            return None

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less when the job is asked to stop meanwhile."""
        await asyncio.to_thread(self._stop.wait, seconds)
