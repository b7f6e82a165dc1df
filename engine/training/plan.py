"""How a training uses the GPU's memory: a pure function of the settings and a budget.

The plan says how `effective_batch` is split (micro-batch x accumulation), whether the UNet
recomputes its activations (gradient checkpointing), how many photos go through the VAE at
once while caching and whether it works in tiles, whether the text encoders and VAE stay on
the GPU during the training, and whether the scorers run there. It prefers the fastest
plan that fits; explicit settings (`micro_batch`, `gradient_checkpointing` on/off) win.
When a step runs out of memory anyway, `step_down` gives the next smaller plan.

Torch-free: the budget is an input (engine.training.loop measures it on the device).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.settings import TrainingDefaults

# Full-size SDXL at 1024 px in bf16, measured on an H200 (BENCHMARKS.md, 2026-11-26, tables
# "Training plans", "Moving, decoding, channels-last" and "Scoring per checkpoint").
# Activations scale with the pixel count, (resolution / 1024) ** 2.
RESTING_GIB = 6.7  # UNet + LoRA + optimizer + caches, encoders parked ("resting GiB")
# Per sample in a UNet pass without checkpointing: (34.04 - 19.58) / 2 between micro-batches
# 4 and 2. Resting + micro x 7.2 overestimates both measured peaks by 1.5 GiB: a margin.
SAMPLE_GIB = 7.2
# With checkpointing every plan peaked at 18.93 GiB, set by caching, not by the step: so a
# checkpointed sample costs at most (18.93 - 6.72) / 4 = 3.05. The bound, not the truth.
CHECKPOINTED_SAMPLE_GIB = 3.05
# Text encoders + VAE on the device: 817 M + 84 M parameters x 2 bytes (computed, not measured).
ENCODERS_GIB = 1.7
# One 1024 px photo through the fp32 VAE encoder while caching: (18.9 - 6.7 - 1.7) / 4, the
# floor of every checkpointed plan (4 photos per encoder batch).
VAE_ENCODE_GIB = 2.6
ENCODE_BATCH = 4  # photos per encoder batch when they fit: what the 18.9 GiB was measured at
# A 1024 px picture drawn between two steps (a preview, a served /imagine): /imagine's
# 9.1 GiB peak less its 6.6 GiB of weights; tiled decoding roughly halves it (estimated).
SAMPLING_GIB = 2.5
TILED_SAMPLING_GIB = 1.2
SCORING_GIB = 0.7  # DINO + CLIP peak while scoring a checkpoint's previews
# One UNet pass (forward + backward) costs about the same for 1 to 4 samples at 1024 px (the
# step is bound by per-pass overhead): off 1.863/4, 0.945/2, 0.477/1 s; on 3.654/4, 1.678/2,
# 0.722/1 s per pass. So the fastest plan has the fewest passes, checkpointing off.
PASS_SECONDS = {False: 0.47, True: 0.8}


@dataclass(frozen=True)
class TrainingPlan:
    micro_batch: int  # samples per UNet pass; effective_batch / micro_batch are accumulated
    gradient_checkpointing: bool
    encode_batch: int  # photos per VAE encoder batch while caching
    vae_tiling: bool  # the VAE encodes and decodes in tiles during this training
    encoders_resident: bool  # text encoders + VAE stay on the device between steps
    scorers_on_gpu: bool
    estimated_gib: float  # the estimated peak of the training's steps and pictures
    budget_gib: float | None  # None: not limited (the CPU)

    @property
    def fits(self) -> bool:
        return self.budget_gib is None or self.estimated_gib <= self.budget_gib

    def describe(self, effective_batch: int) -> str:
        """ "4 x 1 accumulated, gradient checkpointing off, VAE encoding 4 photos at a
        time, encoders on the device, scorers on the GPU; estimated peak 37.2 of 125.0 GiB" """
        tiles = ", in tiles" if self.vae_tiling else ""
        memory = (
            "no GPU memory budget"
            if self.budget_gib is None
            else f"estimated peak {self.estimated_gib:.1f} of {self.budget_gib:.1f} GiB"
            + ("" if self.fits else " (does not fit: the smallest plan)")
        )
        return (
            f"{self.micro_batch} x {effective_batch // self.micro_batch} accumulated, "
            f"gradient checkpointing {'on' if self.gradient_checkpointing else 'off'}, "
            f"VAE encoding {self.encode_batch} at a time{tiles}, "
            f"encoders {'on the device' if self.encoders_resident else 'parked on the CPU'}, "
            f"scorers on {'the GPU' if self.scorers_on_gpu else 'the CPU'}; {memory}"
        )


def plan_training(config: TrainingDefaults, budget_gib: float | None, cuda: bool) -> TrainingPlan:
    """The fastest plan whose estimated peak fits `budget_gib` (None: no limit), with the
    encoders kept on the device when they fit beside it; the smallest plan when none fits."""
    scale = (config.resolution / 1024) ** 2
    splits = sorted(_splits(config, cuda), key=lambda s: (_seconds(config, *s), _gib(scale, *s)))
    fitting = [s for s in splits if _within(budget_gib, _training_gib(scale, *s, False, True))]
    micro, checkpointing = fitting[0] if fitting else min(splits, key=lambda s: _gib(scale, *s))
    resident = _within(budget_gib, _training_gib(scale, micro, checkpointing, True, False))
    encode_batch, tiled = _caching(scale, budget_gib)
    if not _within(budget_gib, _training_gib(scale, micro, checkpointing, resident, False)):
        tiled = True  # pictures between steps decode in tiles
    scoring_gib = RESTING_GIB + (ENCODERS_GIB if resident else 0.0) + SCORING_GIB
    return TrainingPlan(
        micro_batch=micro,
        gradient_checkpointing=checkpointing,
        encode_batch=encode_batch,
        vae_tiling=tiled,
        encoders_resident=resident,
        scorers_on_gpu=cuda and _within(budget_gib, scoring_gib),
        estimated_gib=round(_training_gib(scale, micro, checkpointing, resident, tiled), 2),
        budget_gib=budget_gib,
    )


def step_down(plan: TrainingPlan, config: TrainingDefaults, cuda: bool) -> TrainingPlan | None:
    """The plan to go on with after a training step ran out of memory, or None if there is
    no smaller one. First the encoders leave the device (moving them out and back costs
    0.47 + 0.27 s per preview or picture served, against at least 0.25 s on every remaining
    step for a slower split: BENCHMARKS.md); then the fastest split whose estimated peak is
    below this one's (at 1024 px after 4 x 1 without checkpointing comes 4 x 1 with it:
    faster and smaller than 2 x 2 without, 0.72 s and at most 18.9 GiB against 0.95 s and
    19.6 GiB); splits a setting fixes are never tried."""
    scale = (config.resolution / 1024) ** 2
    if plan.encoders_resident:
        smaller = replace(plan, encoders_resident=False)
    else:
        current = _gib(scale, plan.micro_batch, plan.gradient_checkpointing)
        below = [s for s in _splits(config, cuda) if _gib(scale, *s) < current]
        if not below:
            return None
        micro, checkpointing = min(below, key=lambda s: (_seconds(config, *s), _gib(scale, *s)))
        smaller = replace(plan, micro_batch=micro, gradient_checkpointing=checkpointing)
    return replace(smaller, estimated_gib=round(_plan_gib(scale, smaller), 2))


def lighter_for_pictures(plan: TrainingPlan, config: TrainingDefaults) -> TrainingPlan:
    """The plan to go on with after a picture drawn between steps ran out of memory: the
    VAE tiled and the encoders parked, the split of the steps unchanged, its peak
    estimated again."""
    lighter = replace(plan, vae_tiling=True, encoders_resident=False)
    scale = (config.resolution / 1024) ** 2
    return replace(lighter, estimated_gib=round(_plan_gib(scale, lighter), 2))


def caching_step_down(plan: TrainingPlan) -> TrainingPlan | None:
    """The plan to cache with after the VAE encoder ran out of memory: one photo at a time,
    then in tiles; None when it already did both."""
    if plan.encode_batch > 1:
        return replace(plan, encode_batch=1)
    if not plan.vae_tiling:
        return replace(plan, vae_tiling=True)
    return None


def _splits(config: TrainingDefaults, cuda: bool) -> list[tuple[int, bool]]:
    """(micro-batch, checkpointing) pairs the settings allow. On the CPU "auto" is 1 sample
    at a time without checkpointing: a bigger batch is no faster there, and memory is ample."""
    batch = config.effective_batch
    if config.micro_batch != "auto":
        micros = [config.micro_batch]
    elif cuda:
        micros = [size for size in range(batch, 0, -1) if batch % size == 0]
    else:
        micros = [1]
    setting = config.gradient_checkpointing
    choices = {"on": [True], "off": [False], "auto": [False, True] if cuda else [False]}
    return [(micro, on) for on in choices[setting] for micro in micros]


def _seconds(config: TrainingDefaults, micro: int, checkpointing: bool) -> float:
    return config.effective_batch // micro * PASS_SECONDS[checkpointing]


def _gib(scale: float, micro: int, checkpointing: bool) -> float:
    """Activations of one UNet pass."""
    per_sample = CHECKPOINTED_SAMPLE_GIB if checkpointing else SAMPLE_GIB
    return micro * per_sample * scale


def _training_gib(
    scale: float, micro: int, checkpointing: bool, resident: bool, tiled: bool
) -> float:
    """The peak of a step (encoders wherever the plan keeps them) or of a picture between
    steps (the encoders always on the device then)."""
    step = _gib(scale, micro, checkpointing) + (ENCODERS_GIB if resident else 0.0)
    picture = ENCODERS_GIB + (TILED_SAMPLING_GIB if tiled else SAMPLING_GIB) * scale
    return RESTING_GIB + max(step, picture)


def _plan_gib(scale: float, plan: TrainingPlan) -> float:
    return _training_gib(
        scale,
        plan.micro_batch,
        plan.gradient_checkpointing,
        plan.encoders_resident,
        plan.vae_tiling,
    )


def _caching(scale: float, budget_gib: float | None) -> tuple[int, bool]:
    """(photos per encoder batch, tiled): all at once when they fit beside the resting
    pipeline and its encoders, else one photo at a time, else one 512 px tile at a time (a
    quarter of a photo: the last resort, not estimated)."""
    base = RESTING_GIB + ENCODERS_GIB
    if _within(budget_gib, base + ENCODE_BATCH * VAE_ENCODE_GIB * scale):
        return ENCODE_BATCH, False
    if _within(budget_gib, base + VAE_ENCODE_GIB * scale):
        return 1, False
    return 1, True


def _within(budget_gib: float | None, gib: float) -> bool:
    return budget_gib is None or gib <= budget_gib
