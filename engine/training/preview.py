"""Preview grids during training: the validation prompts, drawn with the current LoRA.

Seeds are fixed per prompt, so the grids at step 100, 200, ... differ only by what the
LoRA learned; that is how a user picks the step between "any cat" and overfitted.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from PIL import Image

from engine.intake import contact_sheet
from engine.training.cache import PromptEmbedding

_MAX_TILE = 256  # a 4-prompt grid of 256 px tiles is a quick Discord upload


def render_preview(
    pipeline: StableDiffusionXLPipeline,
    prompts: list[PromptEmbedding],
    resolution: int,
    inference_steps: int,
    seed: int,
    device: torch.device,
) -> Image.Image:
    """One image per precomputed prompt, as a grid. The text encoders are not used."""
    unet, vae = pipeline.unet, pipeline.vae
    parked = vae.device
    unet.eval()
    vae.to(device)
    images: list[Image.Image] = []
    try:
        with torch.no_grad():
            for index, prompt in enumerate(prompts):
                images += pipeline(
                    prompt_embeds=prompt.embeds,
                    pooled_prompt_embeds=prompt.pooled,
                    negative_prompt_embeds=prompt.negative_embeds,
                    negative_pooled_prompt_embeds=prompt.negative_pooled,
                    height=resolution,
                    width=resolution,
                    num_inference_steps=inference_steps,
                    generator=torch.Generator().manual_seed(seed + index),
                ).images
    finally:
        vae.to(parked)
        unet.train()
    return contact_sheet(images, tile=min(resolution, _MAX_TILE))


def save_preview(job_dir: Path, step: int, grid: Image.Image) -> Path:
    """previews/step-000100.png, written whole or not at all (the bot may be reading it)."""
    path = job_dir / "previews" / f"step-{step:06d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    grid.save(temporary, format="PNG")
    os.replace(temporary, path)
    return path
