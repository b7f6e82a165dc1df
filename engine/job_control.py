"""What a claimed job's code, running on a thread, needs from the engine process: whether to
stop (cancel, shutdown, lost lease) and a way to run store calls on the engine's event loop.

Jobs run on a worker thread so the event loop stays free for the heartbeat; every store call
from that thread hops onto the loop and waits, so each row is committed
before the job goes on (``JobControl.wait``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Literal

from engine.settings import Settings
from engine.store import Database, Job

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

    def request_stop(self, reason: StopReason) -> None:
        if not self._stop.is_set():
            self.stop_reason = reason
            self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def wait(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """From the job's thread: run a store call on the engine's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()
