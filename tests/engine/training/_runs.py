"""Trainings on the tiny SDXL, on the CPU: photos, a request, hooks that record what they
see, and the finished run; shared by the training and the generation tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.models.loading import load_pipeline
from engine.settings import GenerationDefaults, TrainingDefaults
from engine.training import train_lora
from engine.training.request import NullHooks, TrainRequest, TrainResult


def make_photos(directory: Path, count: int = 3, seed: int = 0) -> list[Path]:
    """Distinct 96 px JPEGs: a colour gradient plus noise, different per photo."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, 96)
    paths = []
    for index in range(count):
        base = np.stack([*np.meshgrid(ramp, ramp[::-1]), np.full((96, 96), 40.0 * index)], -1)
        pixels = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
        path = directory / f"photo-{index}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def make_request(
    root: Path,
    model: Path,
    photos: list[Path],
    *,
    job: str = "job",
    generation: GenerationDefaults | None = None,
    **config: object,
) -> TrainRequest:
    """A 64 px CPU training of `photos` as the token "sks", `config` over the defaults here."""
    settings = {
        "resolution": 64,
        "steps": 4,
        "checkpoint_every": 2,
        "learning_rate": 1e-3,  # large, so 4 steps change the images visibly
        "preview_steps": 2,
        "validation_prompts": ("a photo of {token} {cls}", "{token} {cls} on a skateboard"),
        **config,
    }
    return TrainRequest(
        job_dir=root / job,
        photo_paths=photos,
        token="sks",
        class_noun="cat",
        config=TrainingDefaults.model_validate(settings),
        base_model=str(model),
        vae=None,
        device="cpu",
        priors_dir=root / "priors",
        generation=generation or GenerationDefaults(),
    )


@dataclass
class RecordingHooks(NullHooks):
    stop_after: int | None = None
    progress: list[int] = field(default_factory=list)
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    previews: list[tuple[int, Path]] = field(default_factory=list)
    between: int = 0

    def on_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        assert np.isfinite(loss) and seconds_per_step > 0
        self.progress.append(step)

    def between_steps(self) -> None:
        self.between += 1

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.checkpoints.append((step, path))

    def on_preview(self, step: int, image_path: Path) -> None:
        self.previews.append((step, image_path))

    def should_stop(self) -> bool:
        return (
            self.stop_after is not None
            and bool(self.progress)
            and self.progress[-1] >= self.stop_after
        )


@dataclass
class Run:
    request: TrainRequest
    hooks: RecordingHooks
    result: TrainResult


def train_tiny(root: Path, model: Path, **config: object) -> Run:
    """A run to the end on three photos in `root`, its hooks recording."""
    request = make_request(root, model, make_photos(root / "photos"), **config)
    hooks = RecordingHooks()
    return Run(request, hooks, train_lora(request, hooks))


def generate(model: Path, lora_dir: Path | None = None) -> np.ndarray:
    pipeline = load_pipeline(str(model))
    if lora_dir is not None:
        pipeline.load_lora_weights(lora_dir)
    generator = torch.Generator().manual_seed(7)
    output = pipeline(
        "a photo of sks cat", num_inference_steps=2, generator=generator, output_type="np"
    )
    return np.asarray(output.images[0])
