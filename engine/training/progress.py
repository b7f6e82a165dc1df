"""The trainer's hooks for a claimed job: progress, checkpoints and previews become store rows
and outbox events; the job's stop signal is the trainer's ``should_stop``.

The trainer runs on a worker thread; its progress events hop onto the engine's event loop
and wait, so each is committed before training goes on. A checkpoint's or preview's files
are uploaded off that thread (`engine.training.uploads`), its event written after them. A
preview is scored on the training thread (the scorers share its GPU), and its scores commit
with its event: no preview message without its scores, and a checkpoint the trainer
previews again (on resume) is scored again without a second message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.job_control import JobControl
from engine.orders.lora_files import RESUME_ONLY_FILES
from engine.orders.status import duration
from engine.storage import open_storage
from engine.store import Database, EventKind, Transaction, events, jobs, scores
from engine.training.checkpoints import checkpoint_dirs, checkpoint_step
from engine.training.uploads import UploadQueue

if TYPE_CHECKING:
    from engine.scoring.scorers import PreviewScorer, PreviewScores
    from engine.training.plan import TrainingPlan

log = logging.getLogger(__name__)

# The log's progress line: at every tenth of the run, so a run says the same ten lines
# whatever its length (500 steps on an H100: one every ~18 s), and at least once a minute in
# between, so a slow card (a T4, a CPU) still shows it is alive.
LOG_TENTHS = 10
LOG_AT_LEAST_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class ScoringTarget:
    """What a job's previews are scored against."""

    photos: Sequence[Path]  # the owner's photos
    prompts: Sequence[str]  # the validation prompts with the class noun for the token


class TrainingProgress:
    """``TrainingHooks`` for a job claimed from the queue."""

    def __init__(
        self,
        control: JobControl,
        serve_waiting_generation: Callable[[], None] | None = None,
        scorer: PreviewScorer | None = None,
    ) -> None:
        self._control = control
        self._job_id = control.job.id
        self._progress_every = control.settings.progress_every_seconds
        self._last_progress = 0.0
        self._logged_tenth: int | None = None  # None: log the first step this run makes
        self._last_log = 0.0
        # Draws a waiting generation job, if any, between two optimizer steps.
        self._serve_waiting_generation = serve_waiting_generation
        self._scorer = scorer  # None: scoring is off
        self._scorers_on_device = True  # unless the training's memory plan says otherwise
        self._target: ScoringTarget | None = None
        self._storage = open_storage(control.settings)
        self._uploads = UploadQueue(inline=self._storage.is_cache)
        self._keep_whole = control.settings.training.keep_checkpoints  # what pruning spares

    def on_plan(self, plan: TrainingPlan) -> None:
        self._scorers_on_device = plan.scorers_on_gpu  # on the CPU they are there anyway

    def score_against(self, target: ScoringTarget) -> None:
        """Score previews from now on (the job's request knows the photos and prompts)."""
        self._target = target

    @property
    def _db(self) -> Database:
        return self._control.db

    def on_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        self._log_progress(step, total, loss, seconds_per_step)
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
        self._control.wait(
            lambda: self._progress(step, total, seconds_per_step, payload), skippable=True
        )

    def _log_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        tenth = step * LOG_TENTHS // max(total, 1)
        now = time.monotonic()
        if tenth == self._logged_tenth and now - self._last_log < LOG_AT_LEAST_EVERY_SECONDS:
            return
        self._logged_tenth, self._last_log = tenth, now
        finite = math.isfinite(seconds_per_step)
        log.info(
            "job %s: step %d/%d, loss %.4f, %.3f s/step, ETA %s",
            self._job_id,
            step,
            total,
            loss,
            seconds_per_step,
            duration((total - step) * seconds_per_step if finite else None),
        )

    async def _progress(
        self, step: int, total: int, seconds_per_step: float, payload: dict[str, Any]
    ) -> None:
        async with self._db.transaction() as tx:
            if not await self._still_ours_tx(tx):
                return
            await jobs.record_progress_tx(tx, self._job_id, step, total, seconds_per_step)
            await events.append_event_tx(tx, self._job_id, EventKind.PROGRESS, payload)

    async def _still_ours_tx(self, tx: Transaction) -> bool:
        """False once this engine lost the job's lease (it stops within a heartbeat): the
        engine that holds the job now reports its progress, checkpoints and previews."""
        return await jobs.held_by_tx(tx, self._job_id, self._control.engine_id)

    async def _checkpoint_saved(self, step: int, relative: str) -> None:
        async with self._db.transaction() as tx:
            if await self._still_ours_tx(tx):
                payload = {"step": step, "path": relative}
                await events.append_event_tx(tx, self._job_id, EventKind.CHECKPOINT, payload)

    def between_steps(self) -> None:
        if self.should_stop():  # cancelled or shut down: it ends so (a failed upload is logged)
            return
        self._uploads.raise_failure()  # a failed upload fails the attempt at once
        if self._serve_waiting_generation is not None:
            self._serve_waiting_generation()

    def on_checkpoint(self, step: int, path: Path) -> None:
        stopping = self.should_stop()
        if stopping and self._uploads.failed:  # cancelled or shut down, not failed
            log.warning(
                "job %s: checkpoint of step %d stays on this disk only: an earlier upload failed",
                self._job_id,
                step,
            )
            return
        self._uploads.submit(lambda: self._upload_checkpoint(step, path))
        if stopping:
            return  # the job's end waits for it
        began = time.monotonic()
        if waited := self._uploads.limit_backlog(self._keep_whole - 1):
            log.info(
                "job %s: training waited %s for %d uploads (storage is slower than training)",
                self._job_id,
                _seconds(began),
                waited,
            )

    def _upload_checkpoint(self, step: int, path: Path) -> None:
        # Uploaded before its event: an engine that reclaims the job on another machine
        # resumes from the newest checkpoint in storage, never one that only this disk had.
        began = time.monotonic()
        last = path / "state.json"  # uploaded last: in storage, its presence means whole
        for file in [*sorted(p for p in path.iterdir() if p.is_file() and p != last), last]:
            try:
                self._storage.publish(file)
            except FileNotFoundError:
                if file.name not in RESUME_ONLY_FILES:
                    raise
                # Pruned while queued (`limit_backlog` should have prevented it): storage
                # may hold no checkpoint another machine can resume.
                log.warning(
                    "job %s: checkpoint of step %d was pruned before its %s was uploaded: "
                    "uploads are falling behind the training",
                    self._job_id,
                    step,
                    file.name,
                )
        relative = self._storage.key_of(path)
        # Older checkpoints pruned to their LoRA here lose their optimizer state there too.
        self._storage.forget_removed(self._storage.key_of(path.parent), RESUME_ONLY_FILES)
        self._control.wait(lambda: self._checkpoint_saved(step, relative), skippable=True)
        uploaded = "" if self._storage.is_cache else f" (uploaded in {_seconds(began)})"
        log.info(
            "job %s: checkpoint of step %d saved in %s%s", self._job_id, step, relative, uploaded
        )

    def flush_uploads(self) -> None:
        """At the job's end: wait for every queued upload; raise the first that failed."""
        self._log_waiting()
        self._uploads.flush()

    def settle_uploads(self) -> None:
        """At the end of a job that stopped or failed: wait for every queued upload (a
        stopped job resumes elsewhere from its last one); a failed upload is only logged."""
        self._log_waiting()
        self._uploads.settle()

    def _log_waiting(self) -> None:
        if waiting := self._uploads.waiting:
            log.info("job %s: waiting for %d queued uploads", self._job_id, waiting)

    async def announce_saved_checkpoints(self, job_dir: Path) -> None:
        """Upload and announce every checkpoint on disk that has no event yet: an engine
        killed with uploads still queued (or between an upload and its event) left them
        behind, and a checkpoint without its event is never offered as the pet's model."""
        saved = [(checkpoint_step(path), path) for path in checkpoint_dirs(job_dir)]
        await self._announce_missing(EventKind.CHECKPOINT, saved[::-1], self.on_checkpoint)

    async def announce_drawn_previews(self, job_dir: Path) -> None:
        """Score and announce every preview on disk that has no event yet: an engine killed
        between drawing a preview and committing its event (scoring takes seconds) left it
        behind, and the trainer only redraws previews that are missing."""
        grids = sorted((job_dir / "previews").glob("step-*.png"))
        drawn = [(int(grid.stem.removeprefix("step-")), grid) for grid in grids]
        await self._announce_missing(EventKind.PREVIEW, drawn, self.on_preview)

    async def _announce_missing(
        self,
        kind: EventKind,
        on_disk: list[tuple[int, Path]],
        announce: Callable[[int, Path], None],
    ) -> None:
        """`announce(step, path)` (on a thread), in `on_disk`'s order (oldest first), for
        each entry whose step has no `kind` event yet."""
        sent = {
            event.payload.get("step")
            for event in await events.for_job(self._db, self._job_id, kind)
        }
        for step, path in on_disk:
            if step not in sent:
                await asyncio.to_thread(announce, step, path)

    def on_preview(self, step: int, image_path: Path) -> None:
        scored = self._score(step, image_path)  # here: the scorers share the training's GPU
        self._uploads.submit(lambda: self._upload_preview(step, image_path, scored))

    def _upload_preview(self, step: int, image_path: Path, scored: PreviewScores | None) -> None:
        from engine.training.preview import preview_images

        for single in preview_images(image_path):  # what a resumed job's scorer reads
            self._storage.publish(single)
        files = [self._storage.publish(image_path)]  # the grid last: its key means whole
        self._control.wait(lambda: self._preview(step, files, scored), skippable=True)

    def _score(self, step: int, grid: Path) -> PreviewScores | None:
        """The checkpoint's scores, or None (scoring off or impossible: the preview is still
        shown, and the pet falls back to its final step). Never fails the training."""
        if self._scorer is None or self._target is None:
            return None
        from engine.scoring.loading import ScorerUnavailableError
        from engine.training.preview import preview_images

        previews = preview_images(grid)
        if not previews:
            log.warning("job %s: no preview images beside %s to score", self._job_id, grid)
            return None
        try:
            target = self._target
            return self._scorer.score(
                previews, target.prompts, target.photos, self._scorers_on_device
            )
        except ScorerUnavailableError as err:
            log.warning("job %s: previews not scored: %s", self._job_id, err)
        except Exception:
            log.exception("job %s: scoring the previews of step %s failed", self._job_id, step)
        return None

    async def _preview(self, step: int, files: list[str], scored: PreviewScores | None) -> None:
        payload: dict[str, Any] = {"step": step}
        if scored is not None:
            payload["scores"] = scored.as_payload()
        async with self._db.transaction() as tx:
            await tx.lock("job", self._job_id)  # the has-event check and the insert, atomic
            if not await self._still_ours_tx(tx):
                return
            if scored is not None:
                await scores.record_tx(
                    tx,
                    self._job_id,
                    step,
                    identity=scored.identity,
                    clip_image=scored.clip_image,
                    clip_text=scored.clip_text,
                )
            if not await events.has_step_event_tx(tx, self._job_id, EventKind.PREVIEW, step):
                await events.append_event_tx(tx, self._job_id, EventKind.PREVIEW, payload, files)
        log.info(
            "job %s: preview of step %d saved in %s%s",
            self._job_id,
            step,
            files[0],
            _scores_text(payload.get("scores")),
        )

    def should_stop(self) -> bool:
        return self._control.should_stop()


def _seconds(began: float) -> str:
    return f"{time.monotonic() - began:.1f} s"


def _scores_text(scores: dict[str, float] | None) -> str:
    """ ", likeness 0.41 (DINO), CLIP-I 0.83, CLIP-T 0.27", or nothing when not scored."""
    if not scores:
        return ""
    return (
        f", likeness {scores['identity']:.2f} (DINO), CLIP-I {scores['clip_image']:.2f}, "
        f"CLIP-T {scores['clip_text']:.2f}"
    )
