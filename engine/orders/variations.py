"""Vary and Upscale a delivered picture (torch-free): check that the picture can be redrawn,
then turn the order that drew it into one that redraws it img2img with a new seed. The
result goes through `enqueue_imagine` like any picture, so the queue's limits apply."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from typing import Any, Literal, NoReturn

from engine.orders.imagine import ImagineOrder, ImagineRefused
from engine.settings import Settings
from engine.storage import open_storage
from engine.store import Database, EventKind, Job, JobKind, JobState, events, jobs

Variation = Literal["subtle", "strong", "upscale"]
VARIATIONS: tuple[Variation, ...] = ("subtle", "strong", "upscale")
UPSCALE_FACTOR = 2
_MAX_STEPS = 100  # ImagineOrder's own limit


@dataclass(frozen=True)
class VariationOf:
    """Which delivered picture a job redraws, and how. Its params travel in the job, so a
    reroll of a variation is another variation of the same picture."""

    kind: Variation
    job_id: int
    picture: int  # 1-based, as people count the pictures of a message
    image: str  # the picture's storage key
    strength: float  # the share of the denoising schedule redone from the picture
    width: int  # what is drawn: the picture's size, twice it for an upscale
    height: int
    tiled_vae: bool  # larger than text-to-image draws: the VAE works tile by tile

    def steps_run(self, steps: int) -> int:
        """Of a `steps`-step schedule, the steps img2img runs: diffusers' img2img starts
        int(steps x strength) steps before the end (`as_variation` makes that at least 1)."""
        return min(steps, int(steps * self.strength))

    def params(self) -> dict[str, Any]:
        return {
            "variation": self.kind,
            "source_job_id": self.job_id,
            "source_picture": self.picture,
            "source_image": self.image,
            "strength": self.strength,
            "tiled_vae": self.tiled_vae,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> VariationOf | None:
        """The variation a queued job draws; None for a picture drawn from noise."""
        if params.get("variation") not in VARIATIONS:
            return None
        return cls(
            kind=params["variation"],
            job_id=int(params["source_job_id"]),
            picture=int(params["source_picture"]),
            image=str(params["source_image"]),
            strength=float(params["strength"]),
            width=int(params["width"]),
            height=int(params["height"]),
            tiled_vae=bool(params.get("tiled_vae", False)),
        )


def describe_variation(params: dict[str, Any]) -> str | None:
    """ "Variation (strong) of picture 2 of job 41", "Upscaled 2x: picture 1 of job 41";
    None for a picture drawn from noise."""
    variation = VariationOf.from_params(params)
    if variation is None:
        return None
    which = f"picture {variation.picture} of job {variation.job_id}"
    if variation.kind == "upscale":
        return f"Upscaled {UPSCALE_FACTOR}x: {which}"
    return f"Variation ({variation.kind}) of {which}"


async def picture_to_redraw(
    db: Database, settings: Settings, owner_id: int, job_id: int, picture: int, kind: Variation
) -> VariationOf:
    """Picture `picture` (1-based) of the owner's finished job `job_id`, as a variation or
    upscale of it draws it; ImagineRefused says why it cannot be."""
    job = await jobs.get(db, job_id)
    if job is None or job.kind is not JobKind.GENERATE:
        _refuse(f"There are no pictures of job {job_id}: no such job, or its pet was forgotten.")
    if job.owner_id != owner_id:
        _refuse(f"Job {job_id}'s pictures are not yours: you can vary or upscale only your own.")
    if job.state is not JobState.SUCCEEDED:
        _refuse(_unfinished(job))
    done = await events.for_job(db, job_id, EventKind.DONE)
    files = done[-1].files if done else []
    if not 1 <= picture <= len(files):
        _refuse(f"Job {job_id} has {len(files)} picture(s): pick a number from 1 to {len(files)}.")
    key = files[picture - 1]
    if not await asyncio.to_thread(open_storage(settings).exists, key):
        _refuse(f"Picture {picture} of job {job_id} was deleted, so it cannot be redrawn.")
    payload = done[-1].payload
    width = int(payload.get("width") or job.params["width"])
    height = int(payload.get("height") or job.params["height"])
    if kind == "upscale":
        width, height = _upscaled(settings, job_id, picture, width, height)
    resolution = settings.generation.resolution
    return VariationOf(
        kind=kind,
        job_id=job_id,
        picture=picture,
        image=key,
        strength=_strength(settings, kind),
        width=width,
        height=height,
        tiled_vae=width * height > resolution * resolution,
    )


def as_variation(settings: Settings, order: ImagineOrder, variation: VariationOf) -> ImagineOrder:
    """`order` (the one that drew the picture, repeated) as one new picture redrawn from it.
    img2img runs `steps_run` of its steps: at least one, so few steps are raised."""
    steps = order.steps or settings.generation.steps
    steps = min(_MAX_STEPS, max(steps, math.ceil(1 / variation.strength)))
    return replace(order, count=1, seed=None, steps=steps, variation_of=variation)


def _upscaled(
    settings: Settings, job_id: int, picture: int, width: int, height: int
) -> tuple[int, int]:
    """Twice the size, unless that is over twice the configured resolution (in pixels: a
    wide picture may be longer): an upscale of an upscale would need 4x the GPU memory."""
    limit = UPSCALE_FACTOR * settings.generation.resolution
    bigger = (width * UPSCALE_FACTOR, height * UPSCALE_FACTOR)
    if bigger[0] * bigger[1] > limit * limit:
        _refuse(
            f"Picture {picture} of job {job_id} is already {width}x{height}: upscaled it would "
            f"be larger than {limit}x{limit}, the most this bot draws. Vary it instead."
        )
    return bigger


def _strength(settings: Settings, kind: Variation) -> float:
    gen = settings.generation
    return {
        "subtle": gen.vary_subtle_strength,
        "strong": gen.vary_strong_strength,
        "upscale": gen.upscale_strength,
    }[kind]


def _unfinished(job: Job) -> str:
    if job.state is JobState.FAILED:
        return f"Job {job.id} failed, so it has no pictures to vary or upscale."
    if job.state is JobState.CANCELLED:
        return f"Job {job.id} was cancelled, so it has no pictures to vary or upscale."
    return f"Job {job.id} is still being drawn: vary or upscale it once its pictures arrive."


def _refuse(reason: str) -> NoReturn:
    raise ImagineRefused([reason])
