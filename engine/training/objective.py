"""One micro-batch's DreamBooth loss: noise the cached latents, predict, Min-SNR-weighted MSE.

All randomness comes from generators seeded with (seed, step, sample): the step's bucket
from the step's own, each sample's photo, noise and timestep (and its class image's) from
the sample's. So step N draws the same whether or not the run was resumed, and however
its samples are split into micro-batches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from diffusers.training_utils import compute_snr

from engine.training.cache import TrainingCache

BUCKET_DRAW = -1  # the `sample` whose generator picks the step's bucket


def step_generator(seed: int, step: int, sample: int) -> torch.Generator:
    """A CPU generator for one sample of one step, independent of every other one."""
    digest = hashlib.sha256(f"{seed}:{step}:{sample}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class Batch:
    latents: torch.Tensor  # instance samples first, then as many class samples (if any)
    noise: torch.Tensor
    timesteps: torch.Tensor
    time_ids: torch.Tensor
    embeds: torch.Tensor
    pooled: torch.Tensor
    has_prior: bool


def draw_batch(
    cache: TrainingCache, seed: int, step: int, samples: range, num_timesteps: int
) -> Batch:
    """Samples `samples` of step `step`, all from the bucket the step drew."""
    bucket = cache.instance.pick_bucket(step_generator(seed, step, BUCKET_DRAW))
    parts = [(cache.instance.sets[bucket], cache.instance_prompt)]
    if cache.prior is not None and cache.class_prompt is not None:
        parts.append((cache.prior.sets[bucket], cache.class_prompt))
    generators = [step_generator(seed, step, sample) for sample in samples]
    latents, noise, timesteps, time_ids, embeds, pooled = [], [], [], [], [], []
    for latent_set, prompt in parts:  # a sample's class draw follows its instance draw
        for generator in generators:
            latent, ids = latent_set.draw(generator)
            latents.append(latent)
            time_ids.append(ids)
            noise.append(torch.randn(latent.shape, generator=generator))
            timesteps.append(torch.randint(0, num_timesteps, (1,), generator=generator))
        embeds.append(prompt.embeds.expand(len(samples), -1, -1))
        pooled.append(prompt.pooled.expand(len(samples), -1))
    device = latents[0].device
    return Batch(
        latents=torch.cat(latents),
        noise=torch.cat(noise).to(device),
        timesteps=torch.cat(timesteps).to(device),
        time_ids=torch.cat(time_ids),
        embeds=torch.cat(embeds),
        pooled=torch.cat(pooled),
        has_prior=len(parts) > 1,
    )


def denoising_loss(
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
    batch: Batch,
    snr_gamma: float | None,
    prior_loss_weight: float,
) -> torch.Tensor:
    """instance loss + prior_loss_weight * class loss, each Min-SNR weighted."""
    latents, noise = batch.latents, batch.noise
    timesteps = cast(torch.IntTensor, batch.timesteps)  # diffusers' annotation; any ints work
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = unet(
        noisy,
        timesteps,
        batch.embeds,
        added_cond_kwargs={"text_embeds": batch.pooled, "time_ids": batch.time_ids},
    ).sample
    v_prediction = scheduler.config["prediction_type"] == "v_prediction"
    target = scheduler.get_velocity(latents, noise, timesteps) if v_prediction else noise
    per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none")
    per_sample = per_sample.mean(dim=(1, 2, 3))
    if snr_gamma is not None:
        per_sample = per_sample * min_snr_weights(scheduler, timesteps, snr_gamma, v_prediction)
    if not batch.has_prior:
        return per_sample.mean()
    instance, prior = per_sample.chunk(2)
    return instance.mean() + prior_loss_weight * prior.mean()


def min_snr_weights(
    scheduler: DDPMScheduler, timesteps: torch.Tensor, gamma: float, v_prediction: bool
) -> torch.Tensor:
    """Min-SNR-gamma (Hang et al. 2023): stop easy, low-noise timesteps dominating the loss."""
    snr = compute_snr(scheduler, timesteps)
    clipped = torch.clamp(snr, max=gamma)
    return clipped / (snr + 1) if v_prediction else clipped / snr
