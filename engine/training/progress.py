"""The trainer's hooks for a claimed job: progress, checkpoints and previews become store rows
and outbox events; the job's stop signal is the trainer's ``should_stop``.

The trainer runs on a worker thread; each hook hops onto the engine's event loop and waits,
so every event is committed before training goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.job_control import JobControl
from engine.store import Database, EventKind, events, jobs


class TrainingProgress:
    """``TrainingHooks`` for a job claimed from the queue."""

    def __init__(
        self,
        control: JobControl,
        serve_waiting_generation: Callable[[], None] | None = None,
    ) -> None:
        self._control = control
        self._job_id = control.job.id
        self._progress_every = control.settings.progress_every_seconds
        self._last_progress = 0.0
        # Draws a waiting generation job, if any, between two optimizer steps.
        self._serve_waiting_generation = serve_waiting_generation

    @property
    def _db(self) -> Database:
        return self._control.db

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
        self._control.wait(self._progress(step, total, seconds_per_step, payload))

    async def _progress(
        self, step: int, total: int, seconds_per_step: float, payload: dict[str, Any]
    ) -> None:
        async with self._db.transaction() as tx:
            await jobs.record_progress_tx(tx, self._job_id, step, total, seconds_per_step)
            await events.append_event_tx(tx, self._job_id, EventKind.PROGRESS, payload)

    def between_steps(self) -> None:
        if self._serve_waiting_generation is not None and not self.should_stop():
            self._serve_waiting_generation()

    def on_checkpoint(self, step: int, path: Path) -> None:
        relative = self._control.settings.data_relative(path)
        self._control.wait(
            events.append_event(
                self._db, self._job_id, EventKind.CHECKPOINT, {"step": step, "path": relative}
            )
        )

    def on_preview(self, step: int, image_path: Path) -> None:
        files = [self._control.settings.data_relative(image_path)]
        self._control.wait(
            events.append_event(self._db, self._job_id, EventKind.PREVIEW, {"step": step}, files)
        )

    def should_stop(self) -> bool:
        return self._control.should_stop()
