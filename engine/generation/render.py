"""Draw a request's images with a pipeline as it stands (whatever adapter is active in it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from PIL import Image

from engine.generation.img2img import starting_latents, vae_tiled
from engine.generation.prompts import encode_long_prompt
from engine.generation.request import GenerateRequest
from engine.models.sampling import draw_image, generation_scheduler, never

__all__ = ["Rendered", "generation_scheduler", "render_images"]


@dataclass(frozen=True)
class Rendered:
    images: list[Image.Image]
    truncated: str | None  # prompt words past the encoded chunks, None when all were read
    negative_truncated: str | None = None  # the same, of the negative prompt


def render_images(
    pipeline: StableDiffusionXLPipeline,
    scheduler: DPMSolverMultistepScheduler,
    request: GenerateRequest,
    max_prompt_chunks: int,
    device: torch.device,
    after_image: Callable[[int], None] = lambda index: None,
    should_stop: Callable[[], bool] = never,
    after_prompt: Callable[[], None] = lambda: None,
) -> Rendered:
    """One image at a time, image i from a CPU generator seeded `seed + i`: the same seed
    redraws the same image whatever the count, and on any device type the same noise.
    `after_prompt` is called once the prompt is encoded (drawn smaller: the encoders park)."""
    prompt = encode_long_prompt(
        pipeline, request.prompt, request.negative_prompt, max_prompt_chunks, device
    )
    after_prompt()
    images: list[Image.Image] = []
    with vae_tiled(pipeline, request.tiled_vae):
        start = starting_latents(pipeline, request)  # Vary / Upscale; None: from noise
        for index in range(request.count):
            images.append(
                draw_image(
                    pipeline,
                    scheduler,
                    prompt,
                    width=request.width,
                    height=request.height,
                    steps=request.steps,
                    guidance_scale=request.guidance_scale,
                    seed=request.seed + index,
                    should_stop=should_stop,
                    start=start,
                    strength=request.strength,
                )
            )
            after_image(index)
    return Rendered(images, prompt.truncated, prompt.negative_truncated)
