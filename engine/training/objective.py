"""One micro-batch's DreamBooth loss: noise the cached latents, predict, Min-SNR-weighted MSE.

All randomness comes from the generator passed in, which the loop seeds with (seed, step),
so step N draws the same photo, noise and timestep whether or not the run was resumed.
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


def step_generator(seed: int, step: int, micro: int) -> torch.Generator:
    """A CPU generator for one micro-batch, independent of every other one."""
    digest = hashlib.sha256(f"{seed}:{step}:{micro}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class Batch:
    latents: torch.Tensor  # instance samples first, then as many class samples (if any)
    time_ids: torch.Tensor
    embeds: torch.Tensor
    pooled: torch.Tensor
    has_prior: bool


def draw_batch(cache: TrainingCache, batch_size: int, generator: torch.Generator) -> Batch:
    parts = [(cache.instance, cache.instance_prompt)]
    if cache.prior is not None and cache.class_prompt is not None:
        parts.append((cache.prior, cache.class_prompt))
    latents, time_ids, embeds, pooled = [], [], [], []
    for latent_set, prompt in parts:
        sample, ids = latent_set.sample(batch_size, generator)
        latents.append(sample)
        time_ids.append(ids)
        embeds.append(prompt.embeds.expand(batch_size, -1, -1))
        pooled.append(prompt.pooled.expand(batch_size, -1))
    has_prior = len(parts) > 1
    return Batch(
        torch.cat(latents), torch.cat(time_ids), torch.cat(embeds), torch.cat(pooled), has_prior
    )


def denoising_loss(
    unet: UNet2DConditionModel,
    scheduler: DDPMScheduler,
    batch: Batch,
    generator: torch.Generator,
    snr_gamma: float | None,
    prior_loss_weight: float,
) -> torch.Tensor:
    """instance loss + prior_loss_weight * class loss, each Min-SNR weighted."""
    latents = batch.latents
    noise = torch.randn(latents.shape, generator=generator).to(latents.device)
    count = latents.shape[0]
    steps = scheduler.config["num_train_timesteps"]
    drawn = torch.randint(0, steps, (count,), generator=generator).to(latents.device)
    timesteps = cast(torch.IntTensor, drawn)  # diffusers' annotation; any integer tensor works
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
