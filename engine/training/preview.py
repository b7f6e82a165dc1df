"""Preview grids during training: the validation prompts, drawn with the current LoRA.

Drawn exactly as /imagine draws (`engine.models.sampling.draw_image`: its scheduler, step
count and guidance), at fixed seeds per prompt, so the grids at step 100, 200, ... differ
only by what the LoRA learned, and the step a user picks looks like what /imagine gives.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from PIL import Image

from engine.intake import contact_sheet
from engine.models.sampling import draw_image, never
from engine.training.cache import PromptEmbedding
from engine.training.request import TrainRequest

_MAX_TILE = 256  # a 4-prompt grid of 256 px tiles is a quick Discord upload


def render_preview(
    pipeline: StableDiffusionXLPipeline,
    scheduler: DPMSolverMultistepScheduler,
    prompts: list[PromptEmbedding],
    request: TrainRequest,
    device: torch.device,
    should_stop: Callable[[], bool] = never,
) -> list[Image.Image]:
    """One image per precomputed prompt (prompt i with seed `config.seed + i`). The text
    encoders are not used; the VAE comes back to the device for the decode."""
    unet, vae = pipeline.unet, pipeline.vae
    resolution = request.config.resolution
    parked = vae.device
    unet.eval()
    vae.to(device)
    try:
        return [
            draw_image(
                pipeline,
                scheduler,
                prompt,
                width=resolution,
                height=resolution,
                steps=request.preview_steps,
                guidance_scale=request.generation.guidance_scale,
                seed=request.config.seed + index,
                should_stop=should_stop,
            )
            for index, prompt in enumerate(prompts)
        ]
    finally:
        vae.to(parked)
        unet.train()


def preview_path(job_dir: Path, step: int) -> Path:
    """previews/step-000100.png; its single images are in previews/step-000100/0.png, …"""
    return job_dir / "previews" / f"step-{step:06d}.png"


def _singles_dir(grid: Path) -> Path:
    return grid.with_suffix("")


def preview_images(grid: Path) -> list[Path]:
    """The single images beside a preview grid (previews/step-000100/0.png, 1.png, ...), in
    validation-prompt order; empty when there are none."""
    directory = _singles_dir(grid)
    if not directory.is_dir():
        return []
    found = [p for p in directory.glob("*.png") if p.stem.isdigit()]
    return sorted(found, key=lambda p: int(p.stem))


def save_preview(job_dir: Path, step: int, images: list[Image.Image]) -> Path:
    """The single images, then the grid (written last: its presence means the preview is
    whole), each written whole or not at all (the bot and the scorer may be reading)."""
    grid = preview_path(job_dir, step)
    singles = _singles_dir(grid)
    singles.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        _write_png(image, singles / f"{index}.png")
    resolution = images[0].width
    _write_png(contact_sheet(images, tile=min(resolution, _MAX_TILE)), grid)
    return grid


def _write_png(image: Image.Image, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    image.save(temporary, format="PNG")
    os.replace(temporary, path)
