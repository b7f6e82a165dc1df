"""Everything the fit needs that does not change between steps, computed once per job.

The seed's script ran the VAE and both text encoders on every step; here they run once,
then leave the GPU, and each step only samples from the stored latent distributions.
Photos are kept per aspect-ratio bucket (`engine.intake.crops`): a micro-batch is one
tensor, so it never mixes buckets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from PIL import Image

from engine.intake import Bucket, Framed, frame
from engine.models.sampling import StopRequested, never
from engine.training.plan import ENCODE_BATCH
from engine.training.request import TrainRequest


@dataclass(frozen=True)
class PromptEmbedding:
    """One prompt through both text encoders, with the negative (empty) prompt for CFG."""

    embeds: torch.Tensor  # (1, 77, 2048) for SDXL
    pooled: torch.Tensor  # (1, 1280)
    negative_embeds: torch.Tensor
    negative_pooled: torch.Tensor


@dataclass(frozen=True)
class LatentSet:
    """VAE latent distributions of the training images of ONE bucket (times the scaling
    factor), with their SDXL time ids."""

    bucket: Bucket
    mean: torch.Tensor  # (N, 4, h, w)
    std: torch.Tensor
    time_ids: torch.Tensor  # (N, 6): original size, crop top-left, target size

    def __len__(self) -> int:
        return self.mean.shape[0]

    def draw(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """One latent (1, 4, h, w) drawn with `generator` (CPU), and its time ids (1, 6)."""
        index = torch.randint(len(self), (1,), generator=generator)
        eps = torch.randn((1, *self.mean.shape[1:]), generator=generator)
        index = index.to(self.mean.device)
        latent = self.mean[index] + self.std[index] * eps.to(self.mean.device)
        return latent, self.time_ids[index]


@dataclass(frozen=True)
class BucketedLatents:
    sets: dict[Bucket, LatentSet]

    def __len__(self) -> int:
        return sum(len(s) for s in self.sets.values())

    def pick_bucket(self, generator: torch.Generator) -> Bucket:
        """A bucket with probability proportional to its photos: every photo is equally
        likely to be trained on at any step, whatever its shape."""
        buckets = list(self.sets)
        weights = torch.tensor([len(self.sets[b]) for b in buckets], dtype=torch.float64)
        return buckets[int(torch.multinomial(weights, 1, generator=generator))]


@dataclass(frozen=True)
class TrainingCache:
    instance: BucketedLatents
    instance_prompt: PromptEmbedding
    prior: BucketedLatents | None  # class images (same buckets), with prior preservation
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


def frame_photos(paths: Sequence[Path], resolution: int) -> list[Framed]:
    framed = []
    for path in paths:
        with Image.open(path) as image:
            framed.append(frame(image, resolution))
    return framed


def encode_images(
    pipeline: StableDiffusionXLPipeline,
    framed: Sequence[Framed],
    device: torch.device,
    should_stop: Callable[[], bool] = never,
    batch: int = ENCODE_BATCH,
) -> BucketedLatents:
    """Store each framed photo's VAE latent distribution, grouped by bucket, `batch`
    photos per encoder pass; a stop is honoured between two passes (StopRequested)."""
    by_bucket: dict[Bucket, list[Framed]] = {}
    for photo in framed:
        by_bucket.setdefault(photo.bucket, []).append(photo)
    sets = {
        b: _encode_bucket(pipeline, b, group, device, should_stop, batch)
        for b, group in by_bucket.items()
    }
    return BucketedLatents(sets)


def _encode_bucket(
    pipeline: StableDiffusionXLPipeline,
    bucket: Bucket,
    framed: Sequence[Framed],
    device: torch.device,
    should_stop: Callable[[], bool],
    batch: int,
) -> LatentSet:
    vae = pipeline.vae
    pixels = pipeline.image_processor.preprocess([f.image for f in framed])
    pixels = pixels.to(device, torch.float32)
    means, stds = [], []
    with torch.no_grad():
        for chunk in pixels.split(batch):
            if should_stop():
                raise StopRequested()
            dist = vae.encode(chunk.to(vae.dtype)).latent_dist
            means.append(dist.mean.float())
            stds.append(dist.std.float())
    scale = vae.config.scaling_factor
    # SDXL micro-conditioning: the photo's size before resizing (so a small photo teaches
    # "upscaled" rather than "blurry TOK cat"), where the bucket was cut from it, and the
    # bucket's size: the truth about each framing, as SDXL was trained.
    time_ids = torch.tensor(
        [[*f.original_size, *f.crop_top_left, bucket.height, bucket.width] for f in framed],
        dtype=torch.float32,
        device=device,
    )
    return LatentSet(bucket, torch.cat(means) * scale, torch.cat(stds) * scale, time_ids)


def build_cache(
    pipeline: StableDiffusionXLPipeline,
    request: TrainRequest,
    instance: Sequence[Framed],
    class_images: Sequence[Path],
    device: torch.device,
    should_stop: Callable[[], bool] = never,
    encode_batch: int = ENCODE_BATCH,
) -> TrainingCache:
    """Latents and embeddings for one job; class ones only when `class_images` is not empty.
    `encode_batch` photos go through the VAE encoder at once (the memory plan's choice).

    The VAE runs in fp32 here: it is once per job, and SDXL's original VAE overflows in fp16.
    """
    resolution = request.config.resolution
    weight_dtype = pipeline.vae.dtype
    pipeline.vae.to(dtype=torch.float32)
    try:  # back to its dtype even when out of memory or stopped: the pipeline is shared
        latents = encode_images(pipeline, instance, device, should_stop, encode_batch)
        prior = None
        if class_images:
            framed = frame_photos(class_images, resolution)
            prior = encode_images(pipeline, framed, device, should_stop, encode_batch)
    finally:
        pipeline.vae.to(dtype=weight_dtype)
    return TrainingCache(
        instance=latents,
        instance_prompt=encode_prompt(pipeline, request.instance_prompt, device),
        prior=prior,
        class_prompt=encode_prompt(pipeline, request.class_prompt, device) if prior else None,
        validation=[encode_prompt(pipeline, p, device) for p in request.validation_prompts()],
    )
