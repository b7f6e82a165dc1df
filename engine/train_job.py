"""Run one claimed ``train`` job: build the request, train on a thread, record the result."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from engine.enrollment import resolve_config
from engine.job_hooks import JobHooks
from engine.settings import Settings
from engine.store import Database, EventKind, Job, JobState, SubjectStatus, events, jobs, subjects
from engine.training.request import TrainingHooks, TrainRequest, TrainResult

if TYPE_CHECKING:
    from engine.generation.resident import ResidentPipeline

log = logging.getLogger(__name__)


class SubjectGoneError(RuntimeError):
    pass


async def build_request(db: Database, settings: Settings, job: Job) -> TrainRequest:
    subject = await subjects.get(db, job.subject_id) if job.subject_id is not None else None
    if subject is None:
        raise SubjectGoneError("The pet for this training was deleted.")
    photos = await subjects.photos(db, subject.id)
    return TrainRequest(
        job_dir=settings.job_dir(job.id),
        photo_paths=[settings.data_dir / photo.path for photo in photos],
        token=subject.token,
        class_noun=subject.class_noun,
        config=resolve_config(settings.training, job.params),
        base_model=settings.base_model,
        vae=settings.vae or None,
        device=settings.device,
        priors_dir=settings.priors_dir,
    )


async def run_train_job(
    db: Database,
    settings: Settings,
    job: Job,
    hooks: JobHooks,
    resident: ResidentPipeline | None = None,
) -> None:
    request = await build_request(db, settings, job)
    assert job.subject_id is not None
    await subjects.set_status(db, job.subject_id, SubjectStatus.TRAINING)
    result = await asyncio.to_thread(train_on, request, hooks, resident)
    subject = await subjects.get(db, job.subject_id)
    assert subject is not None
    samples = sorted((request.job_dir / "previews").glob("step-*.png"))[-1:]
    lora_rel = str(result.lora_dir.relative_to(settings.data_dir))
    example = f"/imagine prompt: a photo of TOK {subject.class_noun} on a skateboard"
    async with db.transaction() as tx:
        await subjects.set_status(db, subject.id, SubjectStatus.READY, lora_path=lora_rel, conn=tx)
        await jobs.finish(db, job.id, hooks.worker_id, JobState.SUCCEEDED, conn=tx)
        await events.append_event(
            db,
            job.id,
            EventKind.DONE,
            {
                "subject": subject.name,
                "token": subject.token,
                "class_noun": subject.class_noun,
                "steps": result.steps,
                "resumed_from": result.resumed_from,
                "final_loss": result.final_loss,
                "example": example,
            },
            files=[_relative(p, settings.data_dir) for p in samples],
            conn=tx,
        )


def train_on(
    request: TrainRequest, hooks: TrainingHooks, resident: ResidentPipeline | None
) -> TrainResult:
    """Train on the resident pipeline when its weight dtype suits the job, else on a
    pipeline of the job's own (a job that overrides the precision)."""
    from engine.training import train_lora  # torch loads here, not at engine import

    if resident is None:
        return train_lora(request, hooks)
    if not resident.fits(request.config):
        log.warning(
            "job %s: precision differs from the resident pipeline's; loading another",
            request.job_dir.name,
        )
        return train_lora(request, hooks)
    with resident.training() as pipeline:
        return train_lora(request, hooks, pipeline=pipeline)


def _relative(path: Path, root: Path) -> str:
    return str(path.resolve().relative_to(root.resolve()))
