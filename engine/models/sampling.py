"""How petbooth draws one SDXL image: /imagine, training previews and class images alike.

One function, so a preview at step 300 is what /imagine would draw with step 300's LoRA
(same scheduler, step count, guidance and negative-prompt conditioning), and class images
are the base model's class as /imagine would show it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img import (
    StableDiffusionXLImg2ImgPipeline,
)
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from PIL import Image


class StopRequested(Exception):
    """A job's stop (cancel, shutdown, lost lease) arrived in the middle of a drawing."""


def never() -> bool:
    return False


class Conditioning(Protocol):
    """Prompt embeddings for classifier-free guidance (both SDXL text encoders)."""

    @property
    def embeds(self) -> torch.Tensor: ...
    @property
    def pooled(self) -> torch.Tensor: ...
    @property
    def negative_embeds(self) -> torch.Tensor: ...
    @property
    def negative_pooled(self) -> torch.Tensor: ...


def generation_scheduler(pipeline: StableDiffusionXLPipeline) -> DPMSolverMultistepScheduler:
    """DPM-Solver++ 2M with Karras sigmas, from the model's own noise schedule: converged at
    25-30 steps where the seed needed 80-100 with SDXL's default Euler scheduler."""
    return DPMSolverMultistepScheduler.from_config(
        pipeline.scheduler.config,
        algorithm_type="dpmsolver++",
        solver_order=2,
        use_karras_sigmas=True,
    )


def draw_image(
    pipeline: StableDiffusionXLPipeline,
    scheduler: DPMSolverMultistepScheduler,
    prompt: Conditioning,
    *,
    width: int,
    height: int,
    steps: int,
    guidance_scale: float,
    seed: int,
    should_stop: Callable[[], bool] = never,
    start: torch.Tensor | None = None,
    strength: float = 1.0,
) -> Image.Image:
    """One image with whatever adapter is active in `pipeline`. The noise comes from a CPU
    generator seeded `seed`, so the same seed gives the same image on any device.

    `should_stop` is asked after every denoising step: a cancel or shutdown takes effect
    within one step (diffusers' interrupt), not after the picture; StopRequested is raised.

    With `start`, the scaled VAE latents of a picture (width x height), that picture is
    redrawn img2img: noised to the timestep `strength` of the way back into the schedule and
    denoised from there with the same scheduler, guidance and conditioning; int(steps x
    strength) steps are run."""
    if should_stop():
        raise StopRequested()
    stopped = False

    def after_step(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        nonlocal stopped
        if should_stop():
            stopped = True
            pipe._interrupt = True  # the pipeline skips the remaining steps
        return tensors

    own = pipeline.scheduler
    pipeline.scheduler = scheduler  # training keeps the model's own (DDPM) schedule
    try:
        arguments: dict[str, Any] = {
            "prompt_embeds": prompt.embeds,
            "pooled_prompt_embeds": prompt.pooled,
            "negative_prompt_embeds": prompt.negative_embeds,
            "negative_pooled_prompt_embeds": prompt.negative_pooled,
            "num_inference_steps": steps,
            "guidance_scale": guidance_scale,
            "generator": torch.Generator().manual_seed(seed),
            "callback_on_step_end": after_step,
        }
        with torch.no_grad():
            if start is None:
                drawn = pipeline(width=width, height=height, **arguments)
            else:
                drawn = _img2img(pipeline)(image=start, strength=strength, **arguments)
            image = drawn.images[0]
    finally:
        pipeline.scheduler = own
    if stopped:
        raise StopRequested()
    return image


def _img2img(pipeline: StableDiffusionXLPipeline) -> StableDiffusionXLImg2ImgPipeline:
    """diffusers' img2img loop over the very modules of `pipeline`, as they stand now (the
    scheduler swapped in, a compiled UNet, the active LoRA slot): it allocates no weights,
    so building one per picture costs nothing next to drawing it."""
    return StableDiffusionXLImg2ImgPipeline(
        **pipeline.components, add_watermarker=pipeline.watermark is not None
    )
