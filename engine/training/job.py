"""Run one claimed ``train`` job: build the request, train on a thread, record the result."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from engine.job_control import JobControl
from engine.orders.enrolment import resolve_config
from engine.settings import Settings
from engine.store import Database, Job, SubjectStatus, endings, subjects
from engine.training.progress import TrainingProgress
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
    control: JobControl,
    progress: TrainingProgress,
    resident: ResidentPipeline | None = None,
) -> None:
    db, settings, job = control.db, control.settings, control.job
    request = await build_request(db, settings, job)
    assert job.subject_id is not None
    await subjects.set_status(db, job.subject_id, SubjectStatus.TRAINING)
    result = await asyncio.to_thread(train_on, request, progress, resident)
    subject = await subjects.get(db, job.subject_id)
    if subject is None:
        raise SubjectGoneError("The pet for this training was deleted.")
    samples = sorted((request.job_dir / "previews").glob("step-*.png"))[-1:]
    await endings.succeed(
        db,
        job.id,
        control.engine_id,
        {
            "subject": subject.name,
            "token": subject.token,
            "class_noun": subject.class_noun,
            "steps": result.steps,
            "resumed_from": result.resumed_from,
            "final_loss": result.final_loss,
            "example": f"/imagine prompt: a photo of TOK {subject.class_noun} on a skateboard",
        },
        [settings.data_relative(p) for p in samples],
        lora_path=settings.data_relative(result.lora_dir),
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
