"""What Vary and Upscale add around `draw_image`'s img2img path: the delivered picture
brought to the size to draw (Lanczos) and encoded by the VAE once per request, and the VAE
tiled for an upscale's size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from PIL import Image

from engine.generation.request import GenerateRequest
from engine.generation.smaller import tile_at_own_size


def starting_latents(
    pipeline: StableDiffusionXLPipeline, request: GenerateRequest
) -> torch.Tensor | None:
    """The scaled latents of the picture `request` redraws, at its width x height; None: it
    draws from noise. The posterior's mean, not a sample of it: the picture as it is, so
    the seed decides only the noise added on top (SDXL's VAE posterior is narrow, so the
    two differ little there; a random test VAE's is wide enough to drown the picture)."""
    if request.source_image is None:
        return None
    picture = _resized(request.source_image, (request.width, request.height))
    vae = pipeline.vae
    pixels = pipeline.image_processor.preprocess(picture).to(vae.device)
    dtype = vae.dtype
    upcast = dtype == torch.float16 and vae.config.force_upcast  # SDXL's own VAE: NaN in fp16
    if upcast:
        vae.to(dtype=torch.float32)
    try:
        with torch.no_grad():
            latents = vae.encode(pixels.to(vae.dtype)).latent_dist.mode()
    finally:
        if upcast:
            vae.to(dtype=dtype)
    return latents * vae.config.scaling_factor


def _resized(path: Path, size: tuple[int, int]) -> Image.Image:
    """Lanczos keeps edges sharpest of PIL's filters for a 2x enlargement, so an upscale's
    img2img pass starts from fur and whiskers rather than from a blur."""
    with Image.open(path) as opened:
        picture = opened.convert("RGB")
    if picture.size != size:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    return picture


@contextmanager
def vae_tiled(pipeline: StableDiffusionXLPipeline, tiled: bool) -> Iterator[None]:
    """Tiles while an upscale is encoded and decoded, when `tiled`. SDXL's VAE works whole at
    1024 px; at 2048 px its activations are 4x as large, and diffusers' tiling keeps each
    pass at 1024 px tiles (the VAE's own size, not what a training's plan last set) blended
    over their overlap. Afterwards tiling is as it was: a training between two steps may
    have tiled the VAE for its own memory plan."""
    vae = pipeline.vae
    if not tiled or vae.use_tiling:
        yield
        return
    sizes = (vae.tile_sample_min_size, vae.tile_latent_min_size)
    tile_at_own_size(pipeline)
    try:
        yield
    finally:
        vae.disable_tiling()
        vae.tile_sample_min_size, vae.tile_latent_min_size = sizes
