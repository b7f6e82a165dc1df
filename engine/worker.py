"""The engine's main loop: claim a job, run it under a heartbeat, record how it ended.

One engine process per GPU. Every fact lives in SQLite before anything acts on it, so the
process may die at any instruction: its job's lease runs out, another claim picks it up,
and training resumes from the last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from typing import TYPE_CHECKING

from engine.job_hooks import JobHooks
from engine.settings import Settings
from engine.store import (
    Database,
    EventKind,
    Job,
    JobKind,
    JobState,
    SubjectStatus,
    engines,
    events,
    jobs,
    subjects,
)

if TYPE_CHECKING:
    from engine.generation.resident import ResidentPipeline

log = logging.getLogger(__name__)

SUPPORTED_KINDS = (JobKind.GENERATE, JobKind.TRAIN)


class Engine:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        worker_id: str | None = None,
        resident: ResidentPipeline | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self._shutdown = asyncio.Event()
        self._hooks: JobHooks | None = None
        self._last_beat = 0.0
        self._resident = resident  # the one pipeline: loaded by the first job, then kept

    def resident(self) -> ResidentPipeline:
        """The process's one pipeline (its weights load lazily, on the first job's thread)."""
        if self._resident is None:
            from engine.generation.resident import ResidentPipeline

            self._resident = ResidentPipeline(self.settings)
        return self._resident

    def shutdown(self) -> None:
        """Stop after the current job checkpoints (Ctrl-C / SIGTERM)."""
        self._shutdown.set()
        if self._hooks is not None:
            self._hooks.request_stop("shutdown")

    async def run(self, until_idle: bool = False) -> None:
        log.info("engine %s started on device %s", self.worker_id, self.settings.device)
        # A killed engine leaves its row behind; after 10 leases it is certainly dead.
        await engines.forget_silent(self.db, 10 * self.settings.lease_seconds)
        try:
            while not self._shutdown.is_set():
                await self._beat(None)
                job = await jobs.claim_next(
                    self.db, self.worker_id, self.settings.lease_seconds, SUPPORTED_KINDS
                )
                if job is not None:
                    await self.run_job(job)
                elif until_idle and await self._queue_is_empty():
                    return
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._shutdown.wait(), self.settings.poll_seconds)
        finally:
            await engines.remove(self.db, self.worker_id)

    async def _queue_is_empty(self) -> bool:
        """Nothing queued and nothing running anywhere: a running job of a dead engine will
        come back when its lease expires, so --until-idle waits for it."""
        active = await jobs.list_jobs(self.db, states=[JobState.QUEUED, JobState.RUNNING])
        return not any(j.kind in SUPPORTED_KINDS for j in active)

    async def _beat(self, job_id: int | None, force: bool = False) -> None:
        if force or time.monotonic() - self._last_beat >= self.settings.heartbeat_seconds:
            self._last_beat = time.monotonic()
            await engines.beat(self.db, self.worker_id, os.getpid(), self.settings.device, job_id)

    async def run_job(self, job: Job) -> None:
        from engine.generation.job import GenerationInterrupted
        from engine.training.request import TrainingInterrupted

        log.info("job %s (%s) claimed, attempt %s", job.id, job.kind, job.attempts)
        hooks = JobHooks(
            asyncio.get_running_loop(),
            self.db,
            job,
            self.worker_id,
            self.settings.data_dir,
            self.settings.progress_every_seconds,
        )
        self._hooks = hooks
        if self._shutdown.is_set():
            hooks.request_stop("shutdown")
        heartbeat = asyncio.create_task(self._keep_lease(job, hooks))
        try:
            await self._beat(job.id, force=True)
            await self._dispatch(job, hooks)
            log.info("job %s succeeded", job.id)
        except TrainingInterrupted as stopped:
            await self._interrupted(job, hooks.stop_reason, stopped.step)
        except GenerationInterrupted:
            await self._interrupted(job, hooks.stop_reason, 0)
        except Exception as err:
            message = describe_failure(err, job.kind)
            if is_expected_failure(err):  # said in words already: no traceback in the log
                log.error("job %s failed: %s", job.id, message)
            else:
                log.exception("job %s failed", job.id)
            await self._failed(job, message)
        finally:
            heartbeat.cancel()
            self._hooks = None

    async def _dispatch(self, job: Job, hooks: JobHooks) -> None:
        from engine.generation.between_steps import BetweenSteps
        from engine.generation.job import run_generate_job
        from engine.train_job import run_train_job

        resident = self.resident()
        if job.kind is JobKind.GENERATE:
            await run_generate_job(self.db, self.settings, job, resident, hooks)
            return
        hooks.serve_waiting_generation = BetweenSteps(
            asyncio.get_running_loop(),
            self.db,
            self.settings,
            self.worker_id,
            resident,
            lambda err: describe_failure(err, JobKind.GENERATE),
        )
        await run_train_job(self.db, self.settings, job, hooks, resident)

    async def _keep_lease(self, job: Job, hooks: JobHooks) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds)
            current = await jobs.heartbeat(
                self.db, job.id, self.worker_id, self.settings.lease_seconds
            )
            await self._beat(job.id, force=True)
            if current is None:
                log.warning("job %s: lease lost; stopping without finishing it", job.id)
                hooks.request_stop("lease-lost")
            elif current.cancel_requested:
                hooks.request_stop("cancel")

    async def _interrupted(self, job: Job, reason: str | None, step: int) -> None:
        if reason == "cancel":
            async with self.db.transaction() as tx:
                await jobs.finish(
                    self.db,
                    job.id,
                    self.worker_id,
                    JobState.CANCELLED,
                    error="Cancelled by request.",
                    conn=tx,
                )
                await events.append_event(
                    self.db, job.id, EventKind.CANCELLED, {"step": step}, conn=tx
                )
                if job.kind is JobKind.TRAIN and job.subject_id is not None:
                    await subjects.set_status(
                        self.db, job.subject_id, SubjectStatus.FAILED, conn=tx
                    )
        elif reason == "shutdown":
            await jobs.release(self.db, job.id, self.worker_id)
            log.info("job %s checkpointed at step %s and returned to the queue", job.id, step)

    async def _failed(self, job: Job, message: str) -> None:
        async with self.db.transaction() as tx:
            if not await jobs.finish(
                self.db, job.id, self.worker_id, JobState.FAILED, error=message, conn=tx
            ):
                return  # not ours any more: whoever holds it now reports
            await events.append_event(
                self.db, job.id, EventKind.FAILED, {"error": message}, conn=tx
            )
            if job.kind is JobKind.TRAIN and job.subject_id is not None:
                await subjects.set_status(self.db, job.subject_id, SubjectStatus.FAILED, conn=tx)


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.EISDIR}


def _told_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is already a sentence for a person."""
    from engine.generation.job import GenerationRefusedError
    from engine.generation.lora_slot import LoraUnusableError
    from engine.models.loading import ModelUnavailableError
    from engine.train_job import SubjectGoneError
    from engine.training.request import InvalidTrainRequest

    return (
        ModelUnavailableError,
        SubjectGoneError,
        InvalidTrainRequest,
        GenerationRefusedError,
        LoraUnusableError,
    )


def is_expected_failure(err: BaseException) -> bool:
    return isinstance(err, _told_errors()) or (
        isinstance(err, OSError) and err.errno in _DISK_FULL | _NOT_WRITABLE
    )


def describe_failure(err: BaseException, kind: JobKind = JobKind.TRAIN) -> str:
    """A sentence for the job's owner; the traceback goes to the engine log only."""
    if isinstance(err, _told_errors()):
        return str(err)
    again = "/imagine" if kind is JobKind.GENERATE else "/train"
    what = "Drawing the picture" if kind is JobKind.GENERATE else "Training"
    if isinstance(err, OSError) and err.errno in _DISK_FULL:
        return f"The engine ran out of disk space. An admin must free space; then {again} again."
    if isinstance(err, OSError) and err.errno in _NOT_WRITABLE:
        return (
            "The engine cannot write to its data directory. An admin must fix its "
            f"permissions (see `petbooth doctor`); then {again} again."
        )
    return f"{what} failed unexpectedly ({type(err).__name__}); the engine log has details."
