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
from engine.training.plan import TrainingPlan, lighter_for_pictures, step_down
from engine.training.precision import Precision
from engine.training.preview import render_preview, save_preview
from engine.training.request import TrainingOutOfMemory, TrainRequest

_TIMING_SMOOTHING = 0.1  # EMA weight of the newest step: a steady ETA that follows slowdowns
_TILE_PX = 512  # VAE tiles when the plan tiles: a quarter of a 1024 px picture each

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
    plan: TrainingPlan  # the micro-batch split and where things sit in memory
    seconds_per_step: float = math.nan

    @classmethod
    def start(
        cls,
        pipeline: StableDiffusionXLPipeline,
        cache: TrainingCache,
        request: TrainRequest,
        precision: Precision,
        device: torch.device,
        plan: TrainingPlan,
    ) -> LoraFit:
        parameters = [p for p in pipeline.unet.parameters() if p.requires_grad]
        log.info(
            "training plan on %s: %d samples per step as %s; %s, %s",
            device,
            request.config.effective_batch,
            plan.describe(request.config.effective_batch),
            precision.autocast or "fp32",
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
            plan=plan,
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
        `plan.micro_batch` at a time with their gradients accumulated.

        Out of memory in a UNet pass, the clipping or the optimizer's first state: the
        accumulated gradients are dropped and the error raised; the LoRA and optimizer change
        only in the optimizer's own step, so they are still those of the step boundary, and
        the step can be taken again (`step_down`)."""
        began = time.perf_counter()
        config = self.request.config
        try:
            total = self._accumulate(step)
            clipped_step(self.scaler, self.optimizer, self.parameters, config.max_grad_norm)
        finally:  # out of memory too: a retried step must not add to these gradients
            self.optimizer.zero_grad(set_to_none=True)
        self._time(time.perf_counter() - began)
        return total

    def _accumulate(self, step: int) -> float:
        """The forward and backward passes of `step`; returns its mean loss."""
        config = self.request.config
        micro_batch = self.plan.micro_batch
        accumulation = config.effective_batch // micro_batch
        autocast = torch.autocast(
            self.device.type,
            dtype=self.precision.autocast or torch.float32,
            enabled=self.precision.autocast is not None,
        )
        num_timesteps = self.scheduler.config["num_train_timesteps"]
        total = 0.0
        for micro in range(accumulation):
            samples = range(micro * micro_batch, (micro + 1) * micro_batch)
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
        return total

    def step_down(self, step: int) -> None:
        """After `step` ran out of memory: go on with the next smaller plan (same LoRA: every
        sample has its own generator, so any split of a step trains the same update), or
        raise TrainingOutOfMemory when there is none. No attempt is spent: the job goes on."""
        config = self.request.config
        smaller = step_down(self.plan, config, self.device.type == "cuda")
        if smaller is None:
            log.error(
                "job %s: out of memory at step %d with the smallest plan: %s",
                self.request.job_dir.name,
                step,
                self.plan.describe(config.effective_batch),
            )
            raise TrainingOutOfMemory()
        log.warning(
            "job %s: out of memory at step %d; stepping down to %s",
            self.request.job_dir.name,
            step,
            smaller.describe(config.effective_batch),
        )
        self.plan = smaller
        apply_plan(self.pipeline, smaller)

    def lighten_for_pictures(self, step: int) -> None:
        """After a picture drawn between steps ran out of memory: VAE tiled, encoders
        parked, for the rest of the training (the split of the steps stays)."""
        lighter = lighter_for_pictures(self.plan, self.request.config)
        if lighter == self.plan:
            return
        log.warning(
            "job %s: out of memory drawing at step %d; %s",
            self.request.job_dir.name,
            step,
            "VAE tiled and encoders parked from now on",
        )
        self.plan = lighter
        apply_plan(self.pipeline, lighter)

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
        began = time.perf_counter()
        images = render_preview(
            self.pipeline,
            self.sampler,
            self.cache.validation,
            self.request,
            self.device,
            should_stop,
        )
        drawn = time.perf_counter()
        grid = save_preview(self.request.job_dir, step, images)
        # A picture's time beside /imagine's (the training's LoRA is fp32, the resident
        # slot's is in the weights' dtype; the VAE may come back from the CPU for it).
        log.info(
            "job %s: preview of step %d drawn: %d picture%s in %.2f s (%.2f s each), "
            "written in %.2f s",
            self.request.job_dir.name,
            step,
            len(images),
            "" if len(images) == 1 else "s",
            drawn - began,
            (drawn - began) / len(images),
            time.perf_counter() - drawn,
        )
        return grid


def clipped_step(
    scaler: torch.amp.GradScaler,
    optimizer: torch.optim.Optimizer,
    parameters: list[torch.nn.Parameter],
    max_grad_norm: float,
) -> None:
    """Unscale (fp16), clip and take the optimizer step. Out of memory after the unscale
    (in the clipping or the optimizer's first state), the fp16 scaler forgets that it
    unscaled this step, so the retried step unscales its own fresh gradients (it would
    raise "unscale_() has already been called" instead); the scale itself is untouched."""
    try:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
    except torch.OutOfMemoryError:
        # GradScaler's record of this step's unscale/step, which only update() resets; no
        # public call resets it without also moving the scale.
        if scaler.is_enabled():  # a disabled scaler (bf16, fp32) records nothing
            scaler._per_optimizer_states.clear()
        raise


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


def apply_plan(pipeline: StableDiffusionXLPipeline, plan: TrainingPlan) -> None:
    """Put the pipeline in the plan's memory layout: gradient checkpointing on the UNet, the
    VAE tiled or not, the text encoders and VAE on the UNet's device or parked on the CPU
    (everything they would compute is cached; the VAE comes back to decode pictures)."""
    unet, vae = pipeline.unet, pipeline.vae
    if plan.gradient_checkpointing and not unet.is_gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    elif not plan.gradient_checkpointing and unet.is_gradient_checkpointing:
        unet.disable_gradient_checkpointing()
    if plan.vae_tiling:
        # The VAE's own tile is its native size (1024 px for SDXL): tiles only help
        # photos and pictures above that. Half of it makes 1024 px pictures tile too.
        vae.tile_sample_min_size = _TILE_PX
        vae.tile_latent_min_size = _TILE_PX // pipeline.vae_scale_factor
        vae.enable_tiling()
    else:
        vae.disable_tiling()
    home = unet.device if plan.encoders_resident else torch.device("cpu")
    for model in (pipeline.text_encoder, pipeline.text_encoder_2, vae):
        model.to(home)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
