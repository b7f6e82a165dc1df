"""Training hooks that turn the trainer's callbacks into store rows and outbox events.

The trainer runs on a worker thread; these hooks hop onto the engine's event loop with
``run_coroutine_threadsafe`` and wait, so every event is committed before training goes on.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from engine.store import Database, EventKind, Job, events, jobs


class JobHooks:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        db: Database,
        job: Job,
        worker_id: str,
        data_dir: Path,
        progress_every_seconds: float,
    ) -> None:
        self._loop = loop
        self._db = db
        self._job = job
        self.worker_id = worker_id
        self._data_dir = data_dir
        self._progress_every = progress_every_seconds
        self._last_progress = 0.0
        self.stop = threading.Event()  # set by the heartbeat (cancel, lost lease) or shutdown
        self.stop_reason: str | None = None
        # Set by the engine for a training: draws a waiting generation job, if any.
        self.serve_waiting_generation: Callable[[], None] | None = None

    def request_stop(self, reason: str) -> None:
        if not self.stop.is_set():
            self.stop_reason = reason
            self.stop.set()

    def _wait(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _relative(self, path: Path) -> str:
        return str(path.resolve().relative_to(self._data_dir.resolve()))

    def on_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        now = time.monotonic()
        if step < total and now - self._last_progress < self._progress_every:
            return  # Discord edits are rate limited; the bot shows at most one per interval
        self._last_progress = now
        payload = {
            "step": step,
            "total": total,
            "loss": round(loss, 5),
            "seconds_per_step": round(seconds_per_step, 4),
            "eta_seconds": round((total - step) * seconds_per_step, 1),
        }
        self._wait(self._progress(step, total, seconds_per_step, payload))

    async def _progress(
        self, step: int, total: int, seconds_per_step: float, payload: dict[str, Any]
    ) -> None:
        await jobs.record_progress(self._db, self._job.id, step, total, seconds_per_step)
        await events.append_event(self._db, self._job.id, EventKind.PROGRESS, payload)

    def between_steps(self) -> None:
        if self.serve_waiting_generation is not None and not self.stop.is_set():
            self.serve_waiting_generation()

    def on_checkpoint(self, step: int, path: Path) -> None:
        self._wait(
            events.append_event(
                self._db,
                self._job.id,
                EventKind.CHECKPOINT,
                {"step": step, "path": self._relative(path)},
            )
        )

    def on_preview(self, step: int, image_path: Path) -> None:
        self._wait(
            events.append_event(
                self._db,
                self._job.id,
                EventKind.PREVIEW,
                {"step": step},
                files=[self._relative(image_path)],
            )
        )

    def should_stop(self) -> bool:
        return self.stop.is_set()
