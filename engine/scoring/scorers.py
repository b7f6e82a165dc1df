"""Score a checkpoint's previews: likeness to the owner's photos and fidelity to the prompts.

Every score is a mean cosine similarity, so it lies in [-1, 1]:
- identity (DINO): each preview against each photo, the CLS embeddings of a DINO ViT;
- CLIP-I: the same with CLIP's image embeddings;
- CLIP-T: each preview against its own prompt, with the class noun in place of the token
  (the base model knows "cat", not "ohwx").

The models load on the first score and then stay on the CPU; they move to the engine's
device only while scoring, so the training keeps the GPU's memory between checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from engine.models.loading import resolve_device
from engine.scoring.loading import ScorerUnavailableError, ScoringModels, load_scoring_models
from engine.settings import ScoringSettings

log = logging.getLogger(__name__)

_BATCH = 16  # images per forward pass: 16 x 224 px through ViT-B/32 stays under 1 GB


@dataclass(frozen=True)
class PreviewScores:
    identity: float
    clip_image: float
    clip_text: float

    def as_payload(self) -> dict[str, float]:
        """For the preview event (the bot shows two decimals)."""
        return {
            "identity": round(self.identity, 4),
            "clip_image": round(self.clip_image, 4),
            "clip_text": round(self.clip_text, 4),
        }


@dataclass(frozen=True)
class _PhotoEmbeddings:
    photos: tuple[Path, ...]
    identity: torch.Tensor  # unit rows, on the CPU
    clip: torch.Tensor


class PreviewScorer:
    """One per engine process: loaded lazily, kept on the CPU between checkpoints."""

    def __init__(self, settings: ScoringSettings, device: str) -> None:
        self._settings = settings
        self._device = device
        self._models: ScoringModels | None = None
        self._unavailable: ScorerUnavailableError | None = None
        self._photos: _PhotoEmbeddings | None = None  # the current job's, reused per checkpoint
        self._lock = threading.Lock()  # a training thread scores; a benchmark may share one

    def score(
        self,
        previews: Sequence[Path],
        prompts: Sequence[str],
        photos: Sequence[Path],
        on_device: bool = True,
    ) -> PreviewScores:
        """Score preview images (in prompt order) against the owner's photos and the prompts,
        on the engine's device, or on the CPU when `on_device` is false (a training's memory
        plan leaves no room there). Raises ScorerUnavailableError when the models cannot be
        loaded here."""
        if not previews or not photos:
            raise ValueError("scoring needs at least one preview and one photo")
        if len(prompts) != len(previews):
            raise ValueError(f"{len(previews)} previews but {len(prompts)} prompts")
        with self._lock:
            models = self._load()
            home = resolve_device(self._device) if on_device else torch.device("cpu")
            with _on_device(models, home) as device:
                reference = self._photo_embeddings(models, tuple(photos), device)
                images = _open(previews)
                identity = _identity_embeddings(models, images, device)
                clip_images = _clip_image_embeddings(models, images, device)
                clip_texts = _clip_text_embeddings(models, list(prompts), device)
        return PreviewScores(
            identity=_mean(identity @ reference.identity.T),
            clip_image=_mean(clip_images @ reference.clip.T),
            clip_text=_mean((clip_images * clip_texts).sum(dim=-1)),
        )

    def _load(self) -> ScoringModels:
        if self._unavailable is not None:  # said once per process: do not retry every preview
            raise self._unavailable
        if self._models is None:
            try:
                self._models = load_scoring_models(self._settings)
            except ScorerUnavailableError as err:
                self._unavailable = err
                raise
        return self._models

    def _photo_embeddings(
        self, models: ScoringModels, photos: tuple[Path, ...], device: torch.device
    ) -> _PhotoEmbeddings:
        if self._photos is None or self._photos.photos != photos:
            images = _open(photos)
            self._photos = _PhotoEmbeddings(
                photos,
                _identity_embeddings(models, images, device).cpu(),
                _clip_image_embeddings(models, images, device).cpu(),
            )
        return self._photos


@contextlib.contextmanager
def _on_device(models: ScoringModels, device: torch.device) -> Iterator[torch.device]:
    """The models on `device` for the duration, back on the CPU afterwards."""
    if device.type == "cpu":
        yield device
        return
    try:
        for model in models.all():
            model.to(device)
        yield device
    finally:
        for model in models.all():
            model.to("cpu")
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _open(paths: Sequence[Path]) -> list[Image.Image]:
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def _unit(features: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(features.float(), dim=-1)


def _features(output: object) -> torch.Tensor:
    # transformers 5 returns the projected features as pooler_output of a model output
    return output if isinstance(output, torch.Tensor) else output.pooler_output  # type: ignore[attr-defined]


def _identity_embeddings(
    models: ScoringModels, images: list[Image.Image], device: torch.device
) -> torch.Tensor:
    def cls_token(pixels: torch.Tensor) -> torch.Tensor:  # the CLS token, as DreamBench
        return models.identity(pixel_values=pixels).last_hidden_state[:, 0]

    return _image_embeddings(images, models.identity_images, cls_token, device)


def _clip_image_embeddings(
    models: ScoringModels, images: list[Image.Image], device: torch.device
) -> torch.Tensor:
    def projected(pixels: torch.Tensor) -> torch.Tensor:
        return _features(models.clip.get_image_features(pixel_values=pixels))

    return _image_embeddings(images, models.clip_images, projected, device)


@torch.inference_mode()
def _image_embeddings(
    images: list[Image.Image],
    processor: Callable[..., Any],
    embed: Callable[[torch.Tensor], torch.Tensor],
    device: torch.device,
) -> torch.Tensor:
    """Unit embeddings of `images`, `_BATCH` at a time through `processor` and `embed`."""
    chunks = []
    for start in range(0, len(images), _BATCH):
        inputs = processor(images[start : start + _BATCH], return_tensors="pt")
        chunks.append(_unit(embed(inputs["pixel_values"].to(device))))
    return torch.cat(chunks).cpu()


@torch.inference_mode()
def _clip_text_embeddings(
    models: ScoringModels, prompts: list[str], device: torch.device
) -> torch.Tensor:
    inputs = models.clip_tokenizer(prompts, return_tensors="pt", padding=True, truncation=True)
    output = models.clip.get_text_features(
        input_ids=inputs["input_ids"].to(device),
        attention_mask=inputs["attention_mask"].to(device),
    )
    return _unit(_features(output)).cpu()


def _mean(similarities: torch.Tensor) -> float:
    # clamp: float rounding can put the cosine of an image with itself a hair above 1
    return float(similarities.mean().clamp(-1.0, 1.0))
