"""The engine process (``petbooth engine``): claim a job, run it under a heartbeat, record
how it ended.

One engine process per GPU, known everywhere (rows, /status, logs) by its ``engine_id``.
Every fact lives in SQLite before anything acts on it, so the process may die at any
instruction: its job's lease runs out, another claim picks it up, and training resumes from
the last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.failures import describe_failure, is_expected_failure
from engine.job_control import JobControl
from engine.logs import job_context
from engine.settings import Settings
from engine.storage import trim_local_cache
from engine.store import Database, Job, JobKind, JobState, endings, engines, jobs, subjects
from engine.store.database import JOBS_CHANNEL

if TYPE_CHECKING:
    from engine.generation.resident import ResidentPipeline
    from engine.scoring.scorers import PreviewScorer

log = logging.getLogger(__name__)

SUPPORTED_KINDS = (JobKind.GENERATE, JobKind.TRAIN)
CANCEL_LOOK_SECONDS = 1.0  # one indexed SELECT a second: nothing next to a denoising step
# An engine trims its local cache between jobs at most this often: each trim walks the data
# dir, and a few minutes over a limit of GiB cost nothing (a job adds MB).
CACHE_TRIM_SECONDS = 600.0


class Engine:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        engine_id: str | None = None,
        resident: ResidentPipeline | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.engine_id = engine_id or f"{socket.gethostname()}-{os.getpid()}"
        self._shutdown = asyncio.Event()
        self.device = self.settings.device  # resolved when the engine starts running
        self._control: JobControl | None = None
        self._last_beat = 0.0
        self._last_reap = 0.0
        self._last_trim = -math.inf
        self._resident = resident  # the one pipeline: loaded when first idle or by the first job
        self._warmed = False  # tried to load it while idle (once: a failure is each job's to say)
        self._scorer: PreviewScorer | None = None  # loaded at the first preview, then kept

    def scorer(self) -> PreviewScorer | None:
        """The process's one preview scorer (its models load at the first preview, then stay
        on the CPU between checkpoints); None when scoring is off."""
        if not self.settings.scoring.enabled:
            return None
        if self._scorer is None:
            from engine.scoring.scorers import PreviewScorer

            self._scorer = PreviewScorer(self.settings.scoring, self.settings.device)
        return self._scorer

    def resident(self) -> ResidentPipeline:
        """The process's one pipeline (its weights load when the engine is first idle, or on
        the first job's thread when a job was waiting at start)."""
        if self._resident is None:
            from engine.generation.resident import ResidentPipeline

            self._resident = ResidentPipeline(self.settings)
        return self._resident

    def shutdown(self) -> None:
        """Stop after the current job checkpoints (Ctrl-C / SIGTERM)."""
        self._shutdown.set()
        if self._control is not None:
            self._control.request_stop("shutdown")

    async def run(self, until_idle: bool = False) -> None:
        from engine.models.loading import resolve_device

        self.device = str(resolve_device(self.settings.device))  # "auto" -> cuda / cpu
        log.info("engine %s started on device %s", self.engine_id, self.device)
        # A killed engine leaves its row behind; after 10 leases it is certainly dead.
        await engines.forget_silent(self.db, 10 * self.settings.lease_seconds)
        # A container restarted under the same hostname and pid has our id: its row is an
        # earlier life's (its start, "loading"), not this one's.
        await engines.remove(self.db, self.engine_id)
        try:
            while not self._shutdown.is_set():
                await self._beat(None)
                await self._reap()
                await self._trim_cache()
                job = await jobs.claim_next(
                    self.db, self.engine_id, self.settings.lease_seconds, SUPPORTED_KINDS
                )
                if job is not None:
                    await self.run_job(job)
                elif until_idle and await self._queue_is_empty():
                    return
                elif not self._warmed:
                    await self._warm_up()
                else:
                    await self._idle()
        finally:
            await engines.remove(self.db, self.engine_id)

    async def _warm_up(self) -> None:
        """With nothing to do yet: load the pipeline now, so the first picture asked for does
        not wait for SDXL to load (tens of seconds from disk, minutes the first time it is
        downloaded). Heartbeats go on meanwhile; a failure is logged, and each job that needs
        the pipeline tries again and reports it. A shutdown does not wait for the load: it
        runs (with the imports of torch and diffusers) on a daemon thread, abandoned with
        the process, where a job's own load would have held the engine until done."""
        self._warmed = True
        if self._shutdown.is_set() or (self._resident is not None and self._resident.loaded):
            return
        began = time.monotonic()
        await self._beat(None, force=True, loading=True)  # /status: why nothing is claimed
        loading = _on_daemon_thread(lambda: self.resident().warm_up())
        stopping: asyncio.Future[Any] = asyncio.ensure_future(self._shutdown.wait())
        try:
            while not loading.done() and not stopping.done():
                await asyncio.wait(
                    {loading, stopping},
                    timeout=self.settings.heartbeat_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                await self._beat(None, loading=not loading.done())
        finally:
            stopping.cancel()
        if not loading.done():
            log.info("shutting down while loading the resident pipeline: the load is dropped")
            return
        await self._beat(None, force=True)  # loaded, or failed: idle either way
        try:
            loading.result()
        except Exception as err:
            if not is_expected_failure(err):
                log.exception("loading the resident pipeline failed; each job will try again")
            else:  # a sentence already ("… is not downloaded; run petbooth download-models")
                log.error("loading the resident pipeline failed: %s; each job will try again", err)
        else:
            done = "loaded and compiled" if self.settings.generation.compile else "loaded"
            log.info("resident pipeline %s in %s, ready", done, wall_time(time.monotonic() - began))

    async def _idle(self) -> None:
        """Until a job is queued (PostgreSQL's NOTIFY wakes us at once), the poll interval
        passes (the fallback, and all SQLite has), or shutdown is asked."""
        waits = {
            asyncio.ensure_future(self._shutdown.wait()),
            asyncio.ensure_future(self.db.wait_for(JOBS_CHANNEL, self.settings.poll_seconds)),
        }
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting

    async def _reap(self) -> None:
        """Requeue jobs whose engine died (lease run out), once a heartbeat period: on
        PostgreSQL no claim does it (SQLite's claims also do)."""
        if self.db.dialect != "postgres":
            return
        if time.monotonic() - self._last_reap >= self.settings.heartbeat_seconds:
            self._last_reap = time.monotonic()
            await jobs.requeue_expired(self.db)

    async def _trim_cache(self) -> None:
        """Keep the data dir within its size as a cache of object storage, between jobs (on
        a thread: a walk of the data dir and a HEAD per file deleted)."""
        if time.monotonic() - self._last_trim >= CACHE_TRIM_SECONDS:
            self._last_trim = time.monotonic()
            await asyncio.to_thread(trim_local_cache, self.settings)

    async def _queue_is_empty(self) -> bool:
        """Nothing queued and nothing running anywhere: a running job of a dead engine will
        come back when its lease expires, so --until-idle waits for it."""
        active = await jobs.list_jobs(self.db, states=[JobState.QUEUED, JobState.RUNNING])
        return not any(j.kind in SUPPORTED_KINDS for j in active)

    async def _beat(self, job_id: int | None, force: bool = False, loading: bool = False) -> None:
        if force or time.monotonic() - self._last_beat >= self.settings.heartbeat_seconds:
            self._last_beat = time.monotonic()
            await engines.beat(self.db, self.engine_id, os.getpid(), self.device, job_id, loading)

    async def run_job(self, job: Job) -> None:
        began = time.monotonic()
        with job_context(job.id):
            # First, before the imports below: they take seconds on the first job (torch).
            log.info("job %s claimed: %s", job.id, await self._claimed(job))
            await self._run_claimed(job, began)

    async def _claimed(self, job: Job) -> str:
        """ "train for owner 42, pet thor, attempt 1 of 3": what an operator needs to know."""
        subject = await subjects.get(self.db, job.subject_id) if job.subject_id else None
        pet = f"pet {subject.name}" if subject is not None else "no pet (plain SDXL)"
        return (
            f"{job.kind.value} for owner {job.owner_id}, {pet}, "
            f"attempt {job.attempts} of {job.max_attempts}"
        )

    async def _run_claimed(self, job: Job, began: float) -> None:
        from engine.generation.job import GenerationInterrupted
        from engine.models.memory import peak_memory, reset_peak_memory
        from engine.training.request import TrainingInterrupted

        reset_peak_memory(self.settings.device)
        control = JobControl(
            asyncio.get_running_loop(), self.db, self.settings, job, self.engine_id
        )
        self._control = control
        if self._shutdown.is_set():
            control.request_stop("shutdown")
        heartbeat = asyncio.create_task(self._keep_lease(control))
        try:
            await self._beat(job.id, force=True)
            await self._dispatch(control)
            log.info(
                "job %s (%s) finished: succeeded in %s, %s",
                job.id,
                job.kind.value,
                wall_time(time.monotonic() - began),
                peak_memory(self.settings.device),
            )
        except TrainingInterrupted as stopped:
            await self._interrupted(control, stopped.step)
        except GenerationInterrupted:
            await self._interrupted(control, 0)
        except Exception as err:
            message = describe_failure(err, job.kind)
            spent = f"{wall_time(time.monotonic() - began)}, {peak_memory(self.settings.device)}"
            if is_expected_failure(err):  # said in words already: no traceback in the log
                log.error("job %s failed after %s: %s", job.id, spent, message)
            else:
                log.exception("job %s failed after %s", job.id, spent)
            # False: not ours any more; whoever holds the job now reports.
            await endings.fail(self.db, job.id, self.engine_id, message)
        finally:
            heartbeat.cancel()
            self._control = None

    async def _dispatch(self, control: JobControl) -> None:
        from engine.generation.between_steps import BetweenSteps
        from engine.generation.job import run_generate_job
        from engine.training.job import run_train_job
        from engine.training.progress import TrainingProgress

        resident = self.resident()
        if control.job.kind is JobKind.GENERATE:
            await run_generate_job(control, resident)
            return
        serve_waiting = BetweenSteps(
            control, resident, lambda err: describe_failure(err, JobKind.GENERATE)
        )
        progress = TrainingProgress(control, serve_waiting, self.scorer())
        await run_train_job(control, progress, resident)

    async def _keep_lease(self, control: JobControl) -> None:
        """Extend the lease every heartbeat; look for a /cancel every second in between, so a
        cancel reaches the job within a second (then within one denoising step).

        A store call that fails (SQLite busy past its timeout, a dropped PostgreSQL
        connection) is logged and tried again at the next look: the job goes on. Once no
        renewal has succeeded for a whole lease, another engine may have claimed the job,
        so this one stops it as a lost lease."""
        job_id = control.job.id
        beat_every = self.settings.heartbeat_seconds
        look_every = min(CANCEL_LOOK_SECONDS, beat_every)
        last_beat = renewed = time.monotonic()
        failing = False
        while True:
            await asyncio.sleep(look_every)
            try:
                if time.monotonic() - last_beat < beat_every:
                    current = await jobs.get(self.db, job_id)
                else:
                    last_beat = time.monotonic()
                    current = await jobs.heartbeat(
                        self.db, job_id, self.engine_id, self.settings.lease_seconds
                    )
                    if current is None:
                        log.warning("job %s: lease lost; stopping without finishing it", job_id)
                        control.request_stop("lease-lost")
                        continue
                    renewed = time.monotonic()
                    await self._beat(job_id, force=True)
            except Exception as err:
                if not failing:  # once per run of failures, not every second
                    log.warning("job %s: the store did not answer (%s); trying again", job_id, err)
                failing = True
                if time.monotonic() - renewed > self.settings.lease_seconds:
                    log.warning("job %s: lease not renewed for a whole lease; stopping", job_id)
                    control.request_stop("lease-lost")
                continue
            if failing:
                log.info("job %s: the store answers again", job_id)
                failing = False
            if current is not None and current.cancel_requested:
                control.request_stop("cancel")

    async def _interrupted(self, control: JobControl, step: int) -> None:
        job_id = control.job.id
        if control.stop_reason == "cancel":
            await endings.cancel_running(self.db, job_id, self.engine_id, step=step)
            log.info("job %s cancelled at step %s", job_id, step)
        elif control.stop_reason == "shutdown":
            ended = await endings.release(self.db, job_id, self.engine_id, step=step)
            if ended is JobState.CANCELLED:  # its owner asked meanwhile
                log.info("job %s cancelled at step %s", job_id, step)
            else:
                log.info("job %s checkpointed at step %s and returned to the queue", job_id, step)


def _on_daemon_thread(work: Callable[[], object]) -> asyncio.Future[Any]:
    """`work()` on a daemon thread, as a future of the running loop: unlike
    `asyncio.to_thread`, neither the loop's shutdown nor the interpreter's exit waits for it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()

    def settle(result: object, error: BaseException | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as err:  # handed to the loop, which decides
            result, error = None, err
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name="warm-up", daemon=True).start()
    return done


def wall_time(seconds: float) -> str:
    """ "42.1 s" for a picture, "12 min 05 s" for a training."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
