"""A picture that ran out of GPU memory is drawn again the smaller way: the same picture.

/imagine at 1024 px peaks at 9.1 GiB (H200, BENCHMARKS.md): 6.6 GiB of weights and 2.5 GiB
that the denoising and the VAE's decode take and give back. 1.5 GiB of the weights are the
two text encoders (817 M parameters x 2 bytes), which compute nothing once the prompt is
encoded. So, drawn smaller:
- the blocks the failed attempt left cached go back to CUDA (`empty_cache`; live tensors,
  a training's included, are not touched);
- the text encoders wait on the CPU from the encoded prompt to the last image: 1.5 GiB more
  for the rest, the pixels exactly as before (the encoders are not used meanwhile);
- the VAE decodes (and a Vary or Upscale encodes) tile by tile at its own tile size (1024 px
  for SDXL's): a picture within it is decoded whole, as before; a larger one (an aspect of
  1344 x 768) decodes in tiles blended over a quarter of a tile, at roughly half the
  decode's peak (estimated in engine/training/plan.py; not measured), close to the whole
  decode but not pixel for pixel along the seam: the one saver that can change pixels.
  A training that already tiles for its own plan keeps its tiles.
Not used: VAE slicing (every image is decoded alone: there is no batch to slice), attention
slicing (SDPA never holds a whole attention matrix on CUDA; slicing would swap it for a
slower processor), offloading the UNet (seconds per denoising step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)

SAVERS = "the text encoders parked after the prompt and the VAE tiled"


class PictureOutOfMemory(RuntimeError):
    """Out of GPU memory even drawn the smaller way; str() says so to the person who asked."""

    def __init__(self) -> None:
        super().__init__(
            "The GPU ran out of memory drawing this picture, even in the smaller way; try a "
            "smaller aspect, fewer pictures, or no upscale."
        )


@contextmanager
def drawing_smaller(
    pipeline: StableDiffusionXLPipeline, device: torch.device
) -> Iterator[Callable[[], None]]:
    """The savers for one drawing; yields what parks the text encoders, to call once the
    prompt is encoded. On the way out, however the drawing ended, the VAE tiles as it did
    (a training between two steps may tile for its own plan) and the encoders are back where
    they were: the next picture draws whole and fast."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    vae = pipeline.vae
    encoders = [pipeline.text_encoder, pipeline.text_encoder_2]
    homes = [next(model.parameters()).device for model in encoders]
    tiling = (vae.use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size)
    if not vae.use_tiling:
        tile_at_own_size(pipeline)

    def park_encoders() -> None:
        for model in encoders:
            model.to("cpu")

    try:
        yield park_encoders
    finally:
        use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size = tiling
        if not use_tiling:
            vae.disable_tiling()
        for model, home in zip(encoders, homes, strict=True):
            model.to(home)


def tile_at_own_size(pipeline: StableDiffusionXLPipeline) -> None:
    """Tiles of the size the VAE was made for (its config's sample size), not whatever a
    training's memory plan last set: within it a picture decodes exactly as untiled."""
    vae = pipeline.vae
    size = vae.config.sample_size
    size = size[0] if isinstance(size, list | tuple) else size
    vae.tile_sample_min_size = size
    vae.tile_latent_min_size = size // pipeline.vae_scale_factor
    vae.enable_tiling()
