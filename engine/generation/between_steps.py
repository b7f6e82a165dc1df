"""Serve a waiting `generate` job on the training thread, between two optimizer steps.

A training runs for many minutes; a picture takes seconds. After each optimizer step the
training thread asks the queue (through the engine's event loop) for a waiting generation,
at most once per `min_interval` so that an idle queue costs the training nothing measurable,
and draws it on the same resident pipeline (ResidentPipeline.generate puts the training's
state back afterwards). A failing generation is recorded as failed; the training goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.generation.job import build_request, draw_and_save, record_done
from engine.job_control import JobControl
from engine.logs import job_context
from engine.store import Job, JobKind, endings, jobs
from engine.store.outage import store_unavailable

if TYPE_CHECKING:
    from engine.generation.resident import ResidentPipeline

log = logging.getLogger(__name__)

CLAIM_INTERVAL_SECONDS = 0.5  # one SQLite claim costs ~1 ms; twice a second is plenty


class BetweenSteps:
    def __init__(
        self,
        training: JobControl,
        resident: ResidentPipeline,
        describe_failure: Callable[[BaseException], str],
        min_interval: float = CLAIM_INTERVAL_SECONDS,
    ) -> None:
        self._training = training  # the running training's: its loop, store and engine id
        self._db = training.db
        self._settings = training.settings
        self._engine_id = training.engine_id
        self._resident = resident
        self._describe = describe_failure
        self._min_interval = min_interval
        self._last_claim = -float("inf")
        self.served: list[int] = []  # job ids drawn between steps, in order

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last_claim < self._min_interval:
            return
        self._last_claim = now
        wait = self._training.wait
        lease = self._settings.lease_seconds
        job = wait(
            lambda: jobs.claim_next(self._db, self._engine_id, lease, (JobKind.GENERATE,)),
            skippable=True,  # stopping while the store is away: no picture now
        )
        if job is None:
            return
        with job_context(job.id):  # its log lines carry its id, not the training's
            self._serve(job)

    def _serve(self, job: Job) -> None:
        wait = self._training.wait
        lease = self._settings.lease_seconds
        log.info("job %s (generate) served between training steps", job.id)
        self.served.append(job.id)
        try:
            request = wait(lambda: build_request(self._db, self._settings, job))

            def keep_lease(index: int) -> None:
                wait(lambda: jobs.heartbeat(self._db, job.id, self._engine_id, lease))

            drawn = draw_and_save(
                self._resident, request, self._settings.output_dir(job.id), keep_lease
            )
            wait(
                lambda: record_done(self._db, self._settings, job, self._engine_id, request, drawn)
            )
        except Exception as err:
            if store_unavailable(err):  # the training stops too; the engine gives both back
                raise
            log.exception("job %s (generate, between steps) failed", job.id)
            message = self._describe(err)
            wait(lambda: endings.fail(self._db, job.id, self._engine_id, message))
