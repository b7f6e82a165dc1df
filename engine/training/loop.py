"""DreamBooth-LoRA on SDXL: load → class images → cache → add LoRA → fit → save.

Why this and not the seed's script (diffusers' 2,000-line example, run as the seed ran it):
(1) Without --cache_latents it pushed every photo through the VAE encoder on every step, and
each validation reloaded the text encoders; here the VAE latent distributions and every
prompt embedding (instance, class and validation prompts) are computed once per job, the
encoders leave the GPU when the memory plan needs the room (`engine.training.plan`), and a
step costs one UNet forward and backward.
(2) It validated every 25 epochs: with 15 photos and gradient accumulation 4 that is every
~94 steps, a period that moves with the photo count and never meets checkpointing_steps=100,
so no preview showed a checkpoint one could pick. Here a preview is drawn at each checkpoint
step, so "the grid at step 300 looked best" names a model the user can choose.
(3) Its photo order, noise and timesteps came from global RNG streams that a restart cannot
rewind, so a resumed run trained on different noise than an uninterrupted one. Here every
sample draws from a generator seeded with (seed, step, sample): a run resumed from a
checkpoint ends with exactly the LoRA an uninterrupted run makes, and batch 4 x
accumulation 1 trains the LoRA batch 1 x accumulation 4 does (tests check both).
(4) It centre-cropped every photo to a square; here each photo trains at its nearest
aspect-ratio bucket (`engine.intake.crops`), with SDXL's size conditioning telling the truth.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.training_utils import cast_training_params
from peft import LoraConfig

from engine.intake import Bucket, Framed
from engine.models.loading import load_pipeline, resolve_device
from engine.models.sampling import StopRequested, generation_scheduler
from engine.training.cache import TrainingCache, build_cache, encode_prompt, frame_photos
from engine.training.checkpoints import replace_directory, save_lora, start_from_lora
from engine.training.fit import LoraFit, apply_plan
from engine.training.plan import TrainingPlan, caching_step_down, plan_training
from engine.training.precision import memory_budget_gib, resolve_precision
from engine.training.preview import preview_path
from engine.training.priors import class_images_dir, ensure_class_images
from engine.training.request import (
    InvalidTrainRequest,
    NullHooks,
    TrainingHooks,
    TrainingInterrupted,
    TrainingOutOfMemory,
    TrainRequest,
    TrainResult,
    request_problems,
)

log = logging.getLogger(__name__)

LORA_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]  # attention projections, as in diffusers
TRAINING_ADAPTER = "default"  # peft's default adapter name: save_lora and apply_lora use it


def train_lora(
    request: TrainRequest,
    hooks: TrainingHooks | None = None,
    pipeline: StableDiffusionXLPipeline | None = None,
) -> TrainResult:
    """Train (or resume) the job's LoRA to `config.steps` optimizer steps.

    `pipeline`: the engine's resident pipeline, lent for this training (the caller removes
    the training adapter afterwards); None loads one for this call alone.
    """
    hooks = hooks or NullHooks()
    problems = request_problems(request)
    if problems:
        raise InvalidTrainRequest(problems)
    config = request.config
    device = resolve_device(request.device)
    precision = resolve_precision(config, device)
    if pipeline is None:
        pipeline = load_pipeline(
            request.base_model, request.vae, dtype=precision.weight_dtype, device=device
        )
    elif pipeline.unet.dtype != precision.weight_dtype:
        raise ValueError(
            f"the lent pipeline is {pipeline.unet.dtype}, training needs {precision.weight_dtype}"
        )
    _freeze(pipeline)
    budget = memory_budget_gib(request.gpu_memory_gib, device)
    plan = plan_training(config, budget, device.type == "cuda")
    caching_began = time.monotonic()
    try:  # minutes of class images and caching: a stop is honoured within them
        photos = frame_photos(request.photo_paths, config.resolution)
        class_images = (
            _class_images(pipeline, request, photos, device, hooks)
            if config.prior_preservation
            else []
        )
        cache, plan = _cache_within_memory(pipeline, request, photos, class_images, plan, hooks)
    except StopRequested as stopped:
        raise TrainingInterrupted(0) from stopped
    log.info(
        "job %s: caching done in %.1f s (%d photos, %d class images)",
        request.job_dir.name,
        time.monotonic() - caching_began,
        len(photos),
        len(class_images),
    )
    apply_plan(pipeline, plan)
    _add_lora(pipeline.unet, config.rank, config.seed)
    if request.init_lora is not None:  # a growth goes on from the pet's model (a resumed
        start_from_lora(pipeline.unet, request.init_lora)  # job's checkpoint overrides it)
    if config.compile_blocks:
        _compile_blocks(pipeline.unet)
    fit = LoraFit.start(pipeline, cache, request, precision, device, plan)
    hooks.on_plan(plan)
    start, loss = fit.resume()
    if (
        start
        and _previewed_at(request, start)
        and not preview_path(request.job_dir, start).exists()
    ):
        # Killed while drawing this checkpoint's preview: no checkpoint goes without one.
        _preview(fit, hooks, start)
    for step in range(start + 1, config.steps + 1):
        loss = _step_within_memory(fit, hooks, step)
        hooks.on_progress(step, config.steps, loss, fit.seconds_per_step)
        hooks.between_steps()
        saved = step % config.checkpoint_every == 0 or step == config.steps
        if saved:
            hooks.on_checkpoint(step, fit.checkpoint(step, loss))
            if _previewed_at(request, step):
                _preview(fit, hooks, step)
        if hooks.should_stop():
            if not saved:
                hooks.on_checkpoint(step, fit.checkpoint(step, loss))
            raise TrainingInterrupted(step)
    steps = max(start, config.steps)
    lora_dir = _save_final(request, pipeline.unet, steps)
    return TrainResult(lora_dir, steps, start or None, loss)


def _freeze(pipeline: StableDiffusionXLPipeline) -> None:
    for model in (pipeline.unet, pipeline.vae, pipeline.text_encoder, pipeline.text_encoder_2):
        model.requires_grad_(False)


def _preview(fit: LoraFit, hooks: TrainingHooks, step: int) -> None:
    """Draw and report step's preview; a stop mid-drawing ends the run at this checkpoint
    (its preview is drawn when the job resumes). Out of GPU memory, the preview is drawn
    again with the VAE tiled and the encoders parked; out of memory once more, this step
    goes without a preview (its checkpoint is saved; the training goes on)."""
    for attempt in range(2):
        try:
            grid = fit.preview(step, hooks.should_stop)
        except StopRequested as stopped:
            raise TrainingInterrupted(step) from stopped
        except torch.OutOfMemoryError:
            pass  # the failed drawing's tensors are freed once its traceback is gone
        else:
            hooks.on_preview(step, grid)
            return
        if attempt == 0:
            fit.lighten_for_pictures(step)
    log.warning("job %s: no preview at step %d: out of GPU memory", fit.request.job_dir.name, step)


def _previewed_at(request: TrainRequest, step: int) -> bool:
    config = request.config
    checkpointed = step % config.checkpoint_every == 0 or step == config.steps
    return checkpointed and bool(config.validation_prompts)


def _class_images(
    pipeline: StableDiffusionXLPipeline,
    request: TrainRequest,
    photos: list[Framed],
    device: torch.device,
    hooks: TrainingHooks,
) -> list[Path]:
    """`num_class_images` class images, shared out over the photos' buckets in proportion.
    Before the LoRA exists: they must show the base model's idea of the class. Waiting
    pictures are served between them."""
    config, generation = request.config, request.generation
    scheduler = generation_scheduler(pipeline)
    prompt = encode_prompt(pipeline, request.class_prompt, device)
    counts: dict[Bucket, int] = {}
    for photo in photos:
        counts[photo.bucket] = counts.get(photo.bucket, 0) + 1
    paths: list[Path] = []
    for bucket, count in counts.items():
        wanted = math.ceil(config.num_class_images * count / len(photos))
        directory = class_images_dir(
            request.priors_dir,
            request.base_model,
            request.class_noun,
            bucket,
            request.preview_steps,
            generation.guidance_scale,
        )
        paths += ensure_class_images(
            pipeline,
            scheduler,
            directory,
            request.class_noun,
            prompt,
            wanted,
            bucket,
            request.preview_steps,
            generation.guidance_scale,
            hooks.should_stop,
            hooks.between_steps,
        )
    return paths


def _step_within_memory(fit: LoraFit, hooks: TrainingHooks, step: int) -> float:
    """`fit.optimizer_step(step)`, taken again with a smaller plan each time it runs out of
    GPU memory (TrainingOutOfMemory when there is none): the job goes on from the step
    boundary, within this attempt, to the LoRA an uninterrupted run with that plan makes."""
    while True:
        try:
            return fit.optimizer_step(step)
        except torch.OutOfMemoryError:
            pass  # step down outside the handler: its traceback holds the pass's activations
        fit.step_down(step)
        hooks.on_plan(fit.plan)


def _cache_within_memory(
    pipeline: StableDiffusionXLPipeline,
    request: TrainRequest,
    photos: list[Framed],
    class_images: list[Path],
    plan: TrainingPlan,
    hooks: TrainingHooks,
) -> tuple[TrainingCache, TrainingPlan]:
    """`build_cache` with the plan's encoder batch and tiling; out of memory, again one
    photo at a time, then in tiles (TrainingOutOfMemory when it already was)."""
    device = resolve_device(request.device)
    while True:
        apply_plan(pipeline, replace(plan, encoders_resident=True))  # caching needs them
        try:
            cache = build_cache(
                pipeline,
                request,
                photos,
                class_images,
                device,
                hooks.should_stop,
                plan.encode_batch,
            )
            return cache, plan
        except torch.OutOfMemoryError:
            pass  # step down outside the handler: its traceback holds the encoder's tensors
        smaller = caching_step_down(plan)
        if smaller is None:
            raise TrainingOutOfMemory()
        log.warning(
            "job %s: out of memory while caching; again with the VAE %s",
            request.job_dir.name,
            "one photo at a time" if not smaller.vae_tiling else "in tiles",
        )
        plan = smaller


# What `training.compile_blocks` compiles with: shapes change with the aspect bucket and
# the micro-batch, so dynamic from the start (tests compile with the "eager" backend).
COMPILE_OPTIONS: dict[str, object] = {"dynamic": True}


def _compile_blocks(unet: UNet2DConditionModel) -> None:
    """Regional compilation of the UNet's repeated blocks, once per resident UNet (a block
    compiled for an earlier training keeps its compiled call; dynamo's guards recompile it
    where a new training adapter changed it)."""
    blocks = [m for m in unet.modules() if type(m).__name__ in unet._repeated_blocks]
    if blocks and all(getattr(b, "_compiled_call_impl", None) is not None for b in blocks):
        return
    unet.compile_repeated_blocks(**COMPILE_OPTIONS)
    log.info("%d UNet blocks compiled for training: they compile at the first step", len(blocks))


def _add_lora(unet: UNet2DConditionModel, rank: int, seed: int) -> None:
    config = LoraConfig(
        r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=LORA_TARGETS
    )
    # The gaussian init draws from the global RNG: fork it so the same seed gives the same
    # initial LoRA without disturbing anyone else's random stream.
    devices = [unet.device] if unet.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        unet.add_adapter(config, adapter_name=TRAINING_ADAPTER)
    cast_training_params(unet, dtype=torch.float32)  # half-precision Adam updates vanish


def _save_final(request: TrainRequest, unet: UNet2DConditionModel, steps: int) -> Path:
    lora_dir = request.job_dir / "lora"
    temporary = request.job_dir / f".tmp-lora-{os.getpid()}"
    save_lora(temporary, unet)
    about = {
        "token": request.token,
        "class_noun": request.class_noun,
        "steps": steps,
        "rank": request.config.rank,
        "base_model": request.base_model,
    }
    (temporary / "petbooth.json").write_text(json.dumps(about, indent=2))
    replace_directory(temporary, lora_dir)
    return lora_dir
