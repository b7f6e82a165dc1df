"""The engine process (``petbooth engine``): claim a job, run it under a heartbeat, record
how it ended.

One engine process per GPU, known everywhere (rows, /status, logs) by its ``engine_id``.
Every fact lives in SQLite before anything acts on it, so the process may die at any
instruction: its job's lease runs out, another claim picks it up, and training resumes from
the last checkpoint. The store itself may stop answering for a while (PostgreSQL restarting):
the engine waits for it, neither ending itself nor failing the job it runs
(``engine.store.outage``).
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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from engine.failures import describe_failure, is_expected_failure
from engine.job_control import JobControl
from engine.logs import first_line, job_context
from engine.orders.forgotten_copies import drop_forgotten
from engine.settings import Settings
from engine.storage import trim_local_cache
from engine.store import (
    Database,
    EventKind,
    Job,
    JobKind,
    JobState,
    endings,
    engines,
    events,
    jobs,
    subjects,
)
from engine.store.database import JOBS_CHANNEL
from engine.store.outage import (
    Outage,
    since_the_store_returned,
    store_unavailable,
    until_answered,
)

if TYPE_CHECKING:
    from engine.generation.resident import ResidentPipeline
    from engine.scoring.scorers import PreviewScorer

log = logging.getLogger(__name__)

T = TypeVar("T")

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
        self._born = math.inf  # the store's clock at `announce`: claims since are this life's
        self._sweep_due = False  # a job or an outage just ended: see that none is left held
        self._announced = False  # its row written (`announce`)
        self._outage = Outage(log, f"engine {self.engine_id}")  # the idle loop's store calls
        self._forgotten_since = -math.inf  # where the next look for forgotten pets starts

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

    async def announce(self) -> None:
        """Put this engine's row in the store, marked loading, before it imports torch and
        the GPU libraries (seconds): /status then says "loading its model" from the start,
        not "no engine running". `run` does it when nobody did before."""
        if self._announced:
            return
        self._announced = True
        # A killed engine leaves its row behind; after 10 leases it is certainly dead.
        silent = 10 * self.settings.lease_seconds
        await self._until_answered(lambda: engines.forget_silent(self.db, silent), "engine start")
        # A container restarted under the same hostname and pid has our id: its row is an
        # earlier life's (its start, "loading"), not this one's.
        await self._until_answered(lambda: engines.remove(self.db, self.engine_id), "engine start")
        # Jobs an earlier life under this id was running (a container restarted with the
        # same hostname and pid) died with it: the reaper spends their attempt, not
        # `_give_back_held`, so a job that crashes the engine still reaches max_attempts.
        born = await self._until_answered(self.db.current_time, "engine start")
        self._born = born if born is not None else math.inf
        await self._beat(None, force=True, loading=True)  # device as configured, until known

    async def run(self, until_idle: bool = False) -> None:
        await self.announce()
        from engine.models.loading import resolve_device

        self.device = str(resolve_device(self.settings.device))  # "auto" -> cuda / cpu
        log.info("engine %s started on device %s", self.engine_id, self.device)
        try:
            while not self._shutdown.is_set():
                found = await self._until_answered(
                    lambda: self._look_for_work(until_idle), self._outage
                )
                if found is None:  # shut down while the store was away
                    return
                job, done = found
                if job is not None:
                    await self._run_and_sweep(job)
                elif done:
                    return
                elif not self._warmed:
                    await self._warm_up()
                else:
                    await self._idle()
        finally:
            try:
                await engines.remove(self.db, self.engine_id)
            except Exception as err:  # its row is forgotten once silent
                if not store_unavailable(err):
                    raise
                log.warning("engine %s: the store did not answer at exit (%s)", self.engine_id, err)

    async def _run_and_sweep(self, job: Job) -> None:
        """Run `job`; if the store went away meanwhile, see at the next look that no job is
        left under this engine's claim (`_give_back_held`)."""
        before = since_the_store_returned()
        await self.run_job(job)
        if since_the_store_returned() < before:  # it came back during the job
            self._sweep_due = True

    async def _look_for_work(self, until_idle: bool) -> tuple[Job | None, bool]:
        """One round of the idle loop's store calls: a job claimed (or None), and whether
        --until-idle is done. After a round the store did not answer, a claim it made may
        have lost its answer: the retry first gives back what this engine holds."""
        await self._beat(None)
        if self._sweep_due or self._outage.failing:
            await self._give_back_held()
            self._sweep_due = False
        await self._reap()
        await self._trim_cache()
        job = await jobs.claim_next(
            self.db, self.engine_id, self.settings.lease_seconds, SUPPORTED_KINDS
        )
        done = job is None and until_idle and await self._queue_is_empty()
        return job, done

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less when a shutdown is asked meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._shutdown.wait(), seconds)

    async def _until_answered(
        self, call: Callable[[], Awaitable[T]], outage: Outage | str
    ) -> T | None:
        """`call()` made again while the store does not answer (`outage`, or a name for a
        new one, tells of it); None when a shutdown is asked before it does (a job left
        running comes back when its lease runs out)."""
        told = outage if isinstance(outage, Outage) else Outage(log, outage)
        try:
            return await until_answered(call, told, self._shutdown.is_set, self._pause)
        except Exception as err:
            if not store_unavailable(err):
                raise
            log.warning("the store did not answer (%s); leaving it", first_line(err))
            return None

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
        if since_the_store_returned() < self.settings.lease_seconds:
            # Every engine's leases ran on while the store was away: those holding jobs
            # get one lease to renew before this one reaps any.
            return
        if time.monotonic() - self._last_reap >= self.settings.heartbeat_seconds:
            self._last_reap = time.monotonic()
            await jobs.requeue_expired(self.db)

    async def _trim_cache(self) -> None:
        """Keep the data dir within its size as a cache of object storage, between jobs (on
        a thread: a walk of the data dir and a HEAD per file deleted), and drop the copies
        of pets forgotten meanwhile."""
        if time.monotonic() - self._last_trim >= CACHE_TRIM_SECONDS:
            self._last_trim = time.monotonic()
            await asyncio.to_thread(trim_local_cache, self.settings)
            try:
                self._forgotten_since = await drop_forgotten(
                    self.db, self.settings, self._forgotten_since
                )
            except Exception as err:
                if store_unavailable(err):
                    raise  # the idle loop waits for the store
                log.exception("could not drop the copies of forgotten pets; trying later")

    async def _queue_is_empty(self) -> bool:
        """Nothing queued and nothing running anywhere: a running job of a dead engine will
        come back when its lease expires, so --until-idle waits for it."""
        active = await jobs.list_jobs(self.db, states=[JobState.QUEUED, JobState.RUNNING])
        return not any(j.kind in SUPPORTED_KINDS for j in active)

    async def _beat(self, job_id: int | None, force: bool = False, loading: bool = False) -> None:
        """Refresh this engine's row (/status). One the store does not take is only missed:
        the next beat is due at once, and the calls that matter report the outage."""
        if force or time.monotonic() - self._last_beat >= self.settings.heartbeat_seconds:
            try:
                await engines.beat(
                    self.db, self.engine_id, os.getpid(), self.device, job_id, loading
                )
            except Exception as err:
                if not store_unavailable(err):
                    raise
                log.debug("engine %s: heartbeat missed (%s)", self.engine_id, err)
                return
            self._last_beat = time.monotonic()

    async def run_job(self, job: Job) -> None:
        began = time.monotonic()
        with job_context(job.id):
            # First, before the imports below: they take seconds on the first job (torch).
            log.info("job %s claimed: %s", job.id, await self._claimed(job))
            await self._run_claimed(job, began)

    async def _claimed(self, job: Job) -> str:
        """ "train for owner 42, pet thor, attempt 1 of 3": what an operator needs to know."""
        try:
            subject = await subjects.get(self.db, job.subject_id) if job.subject_id else None
        except Exception as err:
            if not store_unavailable(err):
                raise
            subject = None  # the job says it in a moment, when it reads the pet too
        if subject is None:
            pet = f"pet {job.subject_id}" if job.subject_id else "no pet (plain SDXL)"
        else:
            pet = f"pet {subject.name}"
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
            if store_unavailable(err):  # not the job's fault: it is tried again
                await self._give_back_after_outage(control, err)
                return
            message = describe_failure(err, job.kind)
            spent = f"{wall_time(time.monotonic() - began)}, {peak_memory(self.settings.device)}"
            if is_expected_failure(err):  # said in words already: no traceback in the log
                log.error("job %s failed after %s: %s", job.id, spent, message)
            else:
                log.exception("job %s failed after %s", job.id, spent)
            # False: not ours any more; whoever holds the job now reports.
            await self._until_answered(
                lambda: endings.fail(self.db, job.id, self.engine_id, message), f"job {job.id}"
            )
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
        outage = Outage(log, f"job {job_id}")
        while True:
            await asyncio.sleep(look_every)
            try:
                # While the store is away, each look tries to renew: the first answer renews
                # the lease, before any other engine's reaper could take the job.
                if not outage.failing and time.monotonic() - last_beat < beat_every:
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
                outage.failed(err)  # logged once per run of failures; tried at the next look
                if time.monotonic() - renewed > self.settings.lease_seconds:
                    log.warning("job %s: lease not renewed for a whole lease; stopping", job_id)
                    control.request_stop("lease-lost")
                continue
            outage.answered()
            if current is not None and current.cancel_requested:
                control.request_stop("cancel")

    async def _interrupted(self, control: JobControl, step: int) -> None:
        job_id = control.job.id
        what = f"job {job_id}"
        if control.stop_reason == "cancel":
            if await self._until_answered(
                lambda: endings.cancel_running(self.db, job_id, self.engine_id, step=step), what
            ):
                log.info("job %s cancelled at step %s", job_id, step)
        elif control.stop_reason is not None:
            # A shutdown, or no renewal for a whole lease (the store away): back to the
            # queue without spending the attempt (cancelled, if its owner asked meanwhile).
            # Reaped or claimed by another engine meanwhile: not ours, release does nothing.
            ended = await self._until_answered(
                lambda: endings.release(self.db, job_id, self.engine_id, step=step), what
            )
            if ended is not None:
                log.info("job %s checkpointed at step %s and %s", job_id, step, _told(ended))

    async def _give_back_after_outage(self, control: JobControl, err: BaseException) -> None:
        """A job stopped by a store that did not answer (at its start or end, or past a
        stop asked meanwhile): once the store answers, it goes back to the queue without
        spending an attempt (or ends cancelled, if its owner asked), and resumes from its
        last checkpoint at its next claim, here or on another engine."""
        log.warning(
            "job %s stopped: the store did not answer (%s); it goes back to the queue "
            "once the store answers",
            control.job.id,
            first_line(err),
        )
        await self._until_answered(self._give_back_held, f"job {control.job.id}")
        self._sweep_due = False

    async def _give_back_held(self) -> None:
        """Between jobs, no job should run under this engine's claim. One that does was
        left by an outage: the job it stopped, a picture it was serving between training
        steps, or a claim the store made but whose answer was lost. Each goes back to the
        queue without spending its attempt (or ends cancelled, if its owner asked), and
        resumes from its last checkpoint."""
        for job in await jobs.running_on(self.db, self.engine_id, claimed_since=self._born):
            saved = await events.for_job(self.db, job.id, EventKind.CHECKPOINT)
            step = max((int(e.payload.get("step", 0)) for e in saved), default=0)
            ended = await endings.release(self.db, job.id, self.engine_id, step=step)
            if ended is not None:
                log.info("job %s, left running by an outage, %s", job.id, _told(ended))


def _told(released: JobState) -> str:
    """What `endings.release` did with a job, as the log says it."""
    if released is JobState.CANCELLED:
        return "cancelled (its owner asked meanwhile)"
    return "returned to the queue"


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
