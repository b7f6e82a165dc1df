"""A claimed `generate` job: find the subject's LoRA, draw, save PNGs, record the outcome.

The async parts talk to the store; `draw_and_save` is the heavy part and runs on a
thread: the engine's own for a job claimed between jobs, the training thread for one served
between two optimizer steps. A job whose engine dies is simply drawn again after its lease
expires: the seed is in its params, so the retry draws the same images.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from engine.generation.request import GenerateRequest
from engine.job_control import JobControl
from engine.models.sampling import StopRequested, never
from engine.orders.checkpoint_choice import step_in_use
from engine.orders.lora_files import LORA_WEIGHTS, checkpoint_weights
from engine.orders.status import picture_work
from engine.safety.classifier import SafetyUnavailableError
from engine.safety.screening import screen_pictures
from engine.settings import Settings
from engine.storage import open_storage
from engine.store import Database, Job, endings, subjects

if TYPE_CHECKING:
    from engine.generation.resident import ResidentPipeline

log = logging.getLogger(__name__)


class GenerationRefusedError(RuntimeError):
    """The job cannot be drawn as asked; str() says why, to the person who asked."""


class GenerationInterrupted(Exception):
    """Stopped between two images (cancel, shutdown, lost lease)."""


@dataclass(frozen=True)
class Drawn:
    files: list[Path]
    truncated: str | None
    seconds: float | None = None  # drawing alone (no saving): what the queue's ETAs learn from
    negative_truncated: str | None = None


async def build_request(db: Database, settings: Settings, job: Job) -> GenerateRequest:
    request = await _request_with_loras(db, settings, job)
    key = job.params.get("source_image")
    if key is None:
        return request
    # Vary / Upscale: the picture it redraws, fetched (it may have been drawn elsewhere).
    source = await asyncio.to_thread(open_storage(settings).fetch, str(key))
    if source is None:
        raise GenerationRefusedError(
            "The picture to vary or upscale was deleted; pick one that is still posted."
        )
    return replace(request, source_image=source)


async def _request_with_loras(db: Database, settings: Settings, job: Job) -> GenerateRequest:
    if job.subject_id is None:
        return GenerateRequest.from_params(job.params, lora=None, subject=None)
    name, lora = await _pet_lora(
        db, settings, job.subject_id, job.params.get("checkpoint_step"), "this pet"
    )
    second_id = job.params.get("with_subject_id")
    if second_id is None:
        return GenerateRequest.from_params(job.params, lora=lora, subject=name)
    # The job belongs to the first pet, so forgetting the second leaves it queued: refused here.
    second_name, second_lora = await _pet_lora(db, settings, int(second_id), None, "the second pet")
    return GenerateRequest.from_params(job.params, lora, name, second_lora, second_name)


async def _pet_lora(
    db: Database, settings: Settings, subject_id: int, requested: int | None, which: str
) -> tuple[str, Path]:
    """The pet's name and the LoRA to draw it with: the step the order named, else the
    owner's pick, else the step the scores recommend, else the final model."""
    subject = await subjects.get(db, subject_id)
    if subject is None:
        raise GenerationRefusedError(f"{which.capitalize()} was deleted: draw without it.")
    in_use = step_in_use(subject)
    step = requested or in_use.step
    lora = await _lora_location(db, settings, subject.id, subject.lora_path, step)
    if lora is None and requested is None and in_use.reason == "recommended":
        log.warning("pet %s: recommended step %s is gone; using the final step", subject.id, step)
        lora = await _lora_location(db, settings, subject.id, subject.lora_path, None)
    if lora is None:
        raise GenerationRefusedError(
            f"Step {step} of {which} is no longer kept; pick another step or the final model."
        )
    return subject.name, lora


async def _lora_location(
    db: Database, settings: Settings, subject_id: int, lora_path: str | None, step: int | None
) -> Path | None:
    """The LoRA directory of `step` (None: the final model); None if that step is not kept."""
    if step is None:
        if lora_path is None:
            raise GenerationRefusedError("This pet has no trained model yet. /status shows why.")
        storage = open_storage(settings)  # trained on another machine: fetch it first
        # Its weights alone, and only when this machine's cache lacks them: a training writes
        # its LoRA folder once (a growth writes a new one), so a cached file is current and
        # an /imagine costs no listing of the bucket.
        await asyncio.to_thread(storage.fetch, f"{lora_path}/{LORA_WEIGHTS}")
        return storage.cache_path(lora_path)
    weights = await checkpoint_weights(db, settings, subject_id, step)
    return weights.parent if weights is not None else None


def draw_and_save(
    resident: ResidentPipeline,
    request: GenerateRequest,
    directory: Path,
    after_image: Callable[[int], None] = lambda index: None,
    should_stop: Callable[[], bool] = never,
) -> Drawn:
    """Draw on the resident pipeline; PNGs are written whole or not at all. A stop asked
    for mid-picture raises GenerationInterrupted within one denoising step."""
    began = time.perf_counter()
    try:
        rendered = resident.generate(request, after_image, should_stop)
    except StopRequested as stopped:
        raise GenerationInterrupted() from stopped
    seconds = time.perf_counter() - began  # drawing alone, not the PNGs written below
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for index, image in enumerate(rendered.images):
        path = directory / f"image-{index}.png"
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        image.save(temporary, format="PNG")
        os.replace(temporary, path)
        files.append(path)
    return Drawn(files, rendered.truncated, seconds, rendered.negative_truncated)


async def record_done(
    db: Database,
    settings: Settings,
    job: Job,
    engine_id: str,
    request: GenerateRequest,
    drawn: Drawn,
) -> None:
    try:  # before anything is published: a flagged picture never leaves this machine
        screened = await asyncio.to_thread(screen_pictures, settings, job, drawn.files)
    except SafetyUnavailableError as err:
        raise GenerationRefusedError(str(err)) from err
    payload = {
        "images": len(screened.kept),
        "seed": request.seed,
        "prompt": request.prompt,
        "truncated": drawn.truncated,
        "negative_truncated": drawn.negative_truncated,
        "subject": request.subject,
        "second_subject": request.second_subject,  # None: one pet (or none)
        "steps": request.steps,
        "width": request.width,
        "height": request.height,
        # None for plain SDXL: there was no pet's LoRA to scale
        "lora_scale": request.lora_scale if request.lora is not None else None,
    }
    if screened.withheld:  # the owner is told how many, with the rest
        payload["withheld"] = len(screened.withheld)
        payload["withheld_images"] = screened.withheld
    storage = open_storage(settings)
    files = [await asyncio.to_thread(storage.publish, p) for p in screened.kept]
    rate = None  # seconds per denoising step of one megapixel: /status's picture ETAs
    if drawn.seconds is not None:
        rate = drawn.seconds / picture_work(job.params, job.total_steps or request.steps)
    if not await endings.succeed(db, job.id, engine_id, payload, files, seconds_per_step=rate):
        return  # the lease ran out meanwhile: whoever holds the job now reports
    out_dir = job.params.get("out_dir")
    if out_dir:  # `petbooth imagine --out DIR`: a copy where the operator asked for it
        await asyncio.to_thread(_copy_into, screened.kept, Path(out_dir))


def _copy_into(files: list[Path], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copy2(path, directory / path.name)


async def run_generate_job(control: JobControl, resident: ResidentPipeline) -> None:
    """A generation job claimed on its own (no training running): draw on a worker thread."""
    db, settings, job = control.db, control.settings, control.job
    request = await build_request(db, settings, job)

    drawn = await asyncio.to_thread(
        draw_and_save,
        resident,
        request,
        settings.output_dir(job.id),
        lambda index: None,
        control.should_stop,
    )
    await record_done(db, settings, job, control.engine_id, request, drawn)
