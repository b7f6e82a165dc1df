"""The state of one fit (UNet with LoRA, optimizer, caches) and what happens at each step."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

from engine.models.sampling import generation_scheduler
from engine.training.cache import TrainingCache
from engine.training.checkpoints import (
    apply_lora,
    newest_readable_checkpoint,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from engine.training.objective import denoising_loss, draw_batch
from engine.training.precision import Precision, micro_batch_size
from engine.training.preview import render_preview, save_preview
from engine.training.request import TrainRequest

_TIMING_SMOOTHING = 0.1  # EMA weight of the newest step: a steady ETA that follows slowdowns

log = logging.getLogger(__name__)


@dataclass
class LoraFit:
    pipeline: StableDiffusionXLPipeline  # its UNet already carries the trainable LoRA
    scheduler: DDPMScheduler  # the training noise schedule (the pipeline's is for sampling)
    sampler: DPMSolverMultistepScheduler  # previews draw as /imagine does
    cache: TrainingCache
    request: TrainRequest
    precision: Precision
    device: torch.device
    parameters: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    micro_batch: int  # samples per UNet pass; effective_batch / micro_batch are accumulated
    seconds_per_step: float = math.nan

    @classmethod
    def start(
        cls,
        pipeline: StableDiffusionXLPipeline,
        cache: TrainingCache,
        request: TrainRequest,
        precision: Precision,
        device: torch.device,
    ) -> LoraFit:
        parameters = [p for p in pipeline.unet.parameters() if p.requires_grad]
        micro_batch = micro_batch_size(request.config, precision, device)
        log.info(
            "training plan on %s: %d samples per step as %d x %d accumulated, %s, "
            "gradient checkpointing %s, %s",
            device,
            request.config.effective_batch,
            micro_batch,
            request.config.effective_batch // micro_batch,
            precision.autocast or "fp32",
            "on" if precision.gradient_checkpointing else "off",
            "8-bit Adam" if precision.use_8bit_adam else "AdamW",
        )
        return cls(
            pipeline=pipeline,
            scheduler=DDPMScheduler.from_config(pipeline.scheduler.config),
            sampler=generation_scheduler(pipeline),
            cache=cache,
            request=request,
            precision=precision,
            device=device,
            parameters=parameters,
            optimizer=_optimizer(parameters, request.config.learning_rate, precision),
            scaler=torch.amp.GradScaler(device.type, enabled=precision.needs_grad_scaler),
            micro_batch=micro_batch,
        )

    def resume(self) -> tuple[int, float]:
        """Load the newest readable checkpoint, if any: (its step, its loss), else (0, nan)."""
        checkpoint = newest_readable_checkpoint(self.request.job_dir)
        if checkpoint is None:
            return 0, math.nan
        apply_lora(self.pipeline.unet, checkpoint.lora)
        self.optimizer.load_state_dict(checkpoint.optimizer["optimizer"])
        if checkpoint.optimizer.get("grad_scaler"):
            self.scaler.load_state_dict(checkpoint.optimizer["grad_scaler"])
        restore_rng(checkpoint.rng)
        return checkpoint.step, checkpoint.loss

    def optimizer_step(self, step: int) -> float:
        """One optimizer step (1-based `step`) over `effective_batch` samples, taken
        `micro_batch` at a time with their gradients accumulated."""
        began = time.perf_counter()
        config = self.request.config
        accumulation = config.effective_batch // self.micro_batch
        autocast = torch.autocast(
            self.device.type,
            dtype=self.precision.autocast or torch.float32,
            enabled=self.precision.autocast is not None,
        )
        num_timesteps = self.scheduler.config["num_train_timesteps"]
        total = 0.0
        for micro in range(accumulation):
            samples = range(micro * self.micro_batch, (micro + 1) * self.micro_batch)
            with autocast:
                batch = draw_batch(self.cache, config.seed, step, samples, num_timesteps)
                loss = denoising_loss(
                    self.pipeline.unet,
                    self.scheduler,
                    batch,
                    config.snr_gamma,
                    config.prior_loss_weight,
                )
            self.scaler.scale(loss / accumulation).backward()
            total += loss.item() / accumulation
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.parameters, config.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self._time(time.perf_counter() - began)
        return total

    def _time(self, seconds: float) -> None:
        if math.isnan(self.seconds_per_step):
            self.seconds_per_step = seconds
        else:
            weight = _TIMING_SMOOTHING
            self.seconds_per_step = weight * seconds + (1 - weight) * self.seconds_per_step

    def checkpoint(self, step: int, loss: float) -> Path:
        request = self.request
        optimizer_state = {
            "optimizer": self.optimizer.state_dict(),
            "grad_scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }
        about = {
            "loss": loss,
            "config": request.config.model_dump(mode="json"),
            "token": request.token,
            "class_noun": request.class_noun,
            "base_model": request.base_model,
            "vae": request.vae,
        }
        path = save_checkpoint(request.job_dir, step, self.pipeline.unet, optimizer_state, about)
        prune_checkpoints(request.job_dir, request.config.keep_checkpoints)
        return path

    def preview(self, step: int, should_stop: Callable[[], bool]) -> Path:
        images = render_preview(
            self.pipeline,
            self.sampler,
            self.cache.validation,
            self.request,
            self.device,
            should_stop,
        )
        return save_preview(self.request.job_dir, step, images)


def _optimizer(
    parameters: list[torch.nn.Parameter], learning_rate: float, precision: Precision
) -> torch.optim.Optimizer:
    # Constant learning rate, no warmup (the seed's schedule): a plain optimizer is all it takes.
    betas, weight_decay, eps = (0.9, 0.999), 1e-4, 1e-8  # AdamW defaults of diffusers' script
    if precision.use_8bit_adam:
        import bitsandbytes as bnb  # CUDA only; imported only where it is used

        optimizer: torch.optim.Optimizer = bnb.optim.AdamW8bit(
            parameters, lr=learning_rate, betas=betas, weight_decay=weight_decay, eps=eps
        )
        return optimizer
    return torch.optim.AdamW(
        parameters, lr=learning_rate, betas=betas, weight_decay=weight_decay, eps=eps
    )
