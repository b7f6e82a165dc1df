"""Run one claimed ``train`` job: build the request, train on a thread, record the result."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.job_control import JobControl
from engine.orders.checkpoint_choice import recommend_step, step_in_use
from engine.orders.enrolment import resolve_config
from engine.orders.growth import Growth, training_overrides
from engine.orders.lora_files import RESUME_ONLY_FILES, job_checkpoint_kept
from engine.scoring.plot import plot_scores
from engine.settings import Settings
from engine.storage import Storage, open_storage
from engine.store import CheckpointScore, Database, Job, SubjectStatus, endings, scores, subjects
from engine.training.progress import ScoringTarget, TrainingProgress
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
    growth = Growth.from_params(job.params)
    return TrainRequest(
        job_dir=settings.job_dir(job.id),
        photo_paths=[settings.data_dir / photo.path for photo in photos],
        token=subject.token,
        class_noun=subject.class_noun,
        config=resolve_config(settings.training, training_overrides(job.params)),
        base_model=settings.base_model,
        vae=settings.vae or None,
        device=settings.device,
        priors_dir=settings.priors_dir,
        generation=settings.generation,
        gpu_memory_gib=settings.gpu_memory_gib,
        init_lora=settings.data_dir / growth.init_lora if growth and growth.init_lora else None,
    )


async def run_train_job(
    control: JobControl,
    progress: TrainingProgress,
    resident: ResidentPipeline | None = None,
) -> None:
    db, settings, job = control.db, control.settings, control.job
    request = await build_request(db, settings, job)
    storage = open_storage(settings)
    await asyncio.to_thread(fetch_job_files, storage, request)
    assert job.subject_id is not None
    growth = Growth.from_params(job.params)
    if growth is None:  # a growing pet stays ready: it draws with its old model meanwhile
        await subjects.set_status(db, job.subject_id, SubjectStatus.TRAINING)
    progress.score_against(ScoringTarget(request.photo_paths, request.class_noun_prompts()))
    await progress.announce_saved_checkpoints(request.job_dir)  # a resumed job's loose
    await progress.announce_drawn_previews(request.job_dir)  # ends, checkpoints first
    try:
        result = await asyncio.to_thread(train_on, request, progress, resident)
    except Exception:
        await asyncio.to_thread(progress.settle_uploads)  # resumable elsewhere, once uploaded
        raise
    await asyncio.to_thread(progress.flush_uploads)  # the LoRA's checkpoints are in storage
    subject = await subjects.get(db, job.subject_id)
    if subject is None:
        raise SubjectGoneError("The pet for this training was deleted.")
    scored = await scores.for_job(db, job.id) if settings.scoring.enabled else []
    recommended = await _recommendation(settings, job.id, scored, result.steps)
    # A growth's pet drops a step picked from its old training when it adopts this one
    # (store.endings): the new model's step in use is the recommended or the final one.
    picked = None if growth is not None else subject.chosen_step
    in_use = step_in_use(replace(subject, recommended_step=recommended, chosen_step=picked))
    files = _sample(request.job_dir, in_use.step)
    if scored:  # the chart of every checkpoint's scores, the step in use marked
        chart = request.job_dir / "scores.png"
        marked = in_use.step if in_use.step is not None else result.steps
        files.append(await asyncio.to_thread(plot_scores, scored, marked, chart))
    for path in [result.lora_dir, *files]:  # in storage before any row or event names them
        await asyncio.to_thread(storage.publish, path)
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
            "recommended_step": recommended,
            "step_in_use": {"step": in_use.step, "reason": in_use.reason},
            "scores": _scores_of(scored, in_use.step),
            "grew": growth.announced() if growth else None,
        },
        [settings.data_relative(p) for p in files],
        lora_path=settings.data_relative(result.lora_dir),
        recommended_step=recommended,
    )


async def _recommendation(
    settings: Settings, job_id: int, scored: list[CheckpointScore], final: int
) -> int | None:
    """The recommended step (see `recommend_step`) among the steps /imagine can load: the
    final one, and every checkpoint whose LoRA weights are still in storage."""
    choosable = {final}
    for score in scored:
        if await job_checkpoint_kept(settings, job_id, score.step):
            choosable.add(score.step)
    return recommend_step(scored, choosable, settings.scoring.prompt_margin)


def fetch_job_files(storage: Storage, request: TrainRequest) -> None:
    """Into the local cache: the photos, the previews earlier attempts of the job uploaded,
    and its checkpoints that can still be resumed from (the newest few; the LoRA of an older
    one is fetched when it is chosen). A job reclaimed on a machine whose data dir is empty
    resumes from its newest uploaded checkpoint as if the first machine had gone on."""
    for photo in request.photo_paths:
        storage.fetch(storage.key_of(photo))
    if request.init_lora is not None:  # a growth continues from the pet's model
        storage.fetch(storage.key_of(request.init_lora))
    job = storage.key_of(request.job_dir)
    stored = storage.list_keys(job)
    resumable = {
        key.rsplit("/", 1)[0] + "/" for key in stored if key.endswith("/" + RESUME_ONLY_FILES[0])
    }
    for key in stored:
        if key.startswith(f"{job}/previews/") or key.startswith(tuple(resumable)):
            storage.fetch(key)


def _sample(job_dir: Path, step: int | None) -> list[Path]:
    """The preview grid of the step in use, else the last one drawn."""
    grids = sorted((job_dir / "previews").glob("step-*.png"))
    chosen = [g for g in grids if step is not None and g.name == f"step-{step:06d}.png"]
    return chosen or grids[-1:]


def _scores_of(scored: list[CheckpointScore], step: int | None) -> dict[str, float] | None:
    """The scores of the step in use (of the final step when that is in use)."""
    wanted = step if step is not None else max((s.step for s in scored), default=None)
    for score in scored:
        if score.step == wanted:
            return {"identity": score.identity, "clip_text": score.clip_text}
    return None


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
