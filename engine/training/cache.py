"""Everything the fit needs that does not change between steps, computed once per job.

The seed's script ran the VAE and both text encoders on every step; here they run once,
then leave the GPU, and each step only samples from the stored latent distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from PIL import Image

from engine.intake import square_crop
from engine.training.request import TrainRequest

_ENCODE_BATCH = 4  # four 1024 px images through the VAE encoder fit beside SDXL on 24 GB


@dataclass(frozen=True)
class PromptEmbedding:
    """One prompt through both text encoders, with the negative (empty) prompt for CFG."""

    embeds: torch.Tensor  # (1, 77, 2048) for SDXL
    pooled: torch.Tensor  # (1, 1280)
    negative_embeds: torch.Tensor
    negative_pooled: torch.Tensor


@dataclass(frozen=True)
class LatentSet:
    """VAE latent distributions of training images (already times the scaling factor)."""

    mean: torch.Tensor  # (N, 4, h, w)
    std: torch.Tensor
    time_ids: torch.Tensor  # (N, 6): original size, crop top-left, target size

    def __len__(self) -> int:
        return self.mean.shape[0]

    def sample(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """`count` latents drawn with `generator` (CPU), and their time ids."""
        index = torch.randint(len(self), (count,), generator=generator)
        eps = torch.randn((count, *self.mean.shape[1:]), generator=generator)
        index = index.to(self.mean.device)
        latents = self.mean[index] + self.std[index] * eps.to(self.mean.device)
        return latents, self.time_ids[index]


@dataclass(frozen=True)
class TrainingCache:
    instance: LatentSet
    instance_prompt: PromptEmbedding
    prior: LatentSet | None  # class images, when prior preservation is on
    class_prompt: PromptEmbedding | None
    validation: list[PromptEmbedding]  # so previews need no text encoder


def encode_prompt(
    pipeline: StableDiffusionXLPipeline, prompt: str, device: torch.device
) -> PromptEmbedding:
    # The pipeline's own encoder (penultimate hidden states of both encoders, pooled from
    # the second) so training and generation condition on exactly the same tensors.
    with torch.no_grad():
        embeds, negative, pooled, negative_pooled = pipeline.encode_prompt(
            prompt, device=device, do_classifier_free_guidance=True
        )
    return PromptEmbedding(embeds, pooled, negative, negative_pooled)


def encode_images(
    pipeline: StableDiffusionXLPipeline,
    paths: Sequence[Path],
    resolution: int,
    device: torch.device,
) -> LatentSet:
    """Centre-crop each image to `resolution` and store its VAE latent distribution."""
    vae = pipeline.vae
    crops, sides = [], []
    for path in paths:
        with Image.open(path) as image:
            photo = image.convert("RGB")
        sides.append(min(photo.size))
        crops.append(square_crop(photo, resolution))
    pixels = pipeline.image_processor.preprocess(crops).to(device, torch.float32)
    means, stds = [], []
    with torch.no_grad():
        for chunk in pixels.split(_ENCODE_BATCH):
            dist = vae.encode(chunk.to(vae.dtype)).latent_dist
            means.append(dist.mean.float())
            stds.append(dist.std.float())
    scale = vae.config.scaling_factor
    # SDXL micro-conditioning: the square region's size before resizing (so a small photo
    # teaches "upscaled" rather than "blurry TOK cat"), crop at (0, 0), target size.
    time_ids = torch.tensor(
        [[side, side, 0, 0, resolution, resolution] for side in sides],
        dtype=torch.float32,
        device=device,
    )
    return LatentSet(torch.cat(means) * scale, torch.cat(stds) * scale, time_ids)


def build_cache(
    pipeline: StableDiffusionXLPipeline,
    request: TrainRequest,
    class_images: Sequence[Path],
    device: torch.device,
) -> TrainingCache:
    """Latents and embeddings for one job; class ones only when `class_images` is not empty.

    The VAE runs in fp32 here: it is once per job, and SDXL's original VAE overflows in fp16.
    """
    resolution = request.config.resolution
    weight_dtype = pipeline.vae.dtype
    if weight_dtype != torch.float32:
        pipeline.vae.to(dtype=torch.float32)
    instance = encode_images(pipeline, request.photo_paths, resolution, device)
    prior = encode_images(pipeline, class_images, resolution, device) if class_images else None
    if weight_dtype != torch.float32:
        pipeline.vae.to(dtype=weight_dtype)
    return TrainingCache(
        instance=instance,
        instance_prompt=encode_prompt(pipeline, request.instance_prompt, device),
        prior=prior,
        class_prompt=encode_prompt(pipeline, request.class_prompt, device) if prior else None,
        validation=[encode_prompt(pipeline, p, device) for p in request.validation_prompts()],
    )
