"""The safety classifier: a transformers image-classification model (default
Falconsai/nsfw_image_detection), loaded once per engine process on its device."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image

from engine.settings import SafetySettings

if TYPE_CHECKING:
    from transformers import BaseImageProcessor, PreTrainedModel

log = logging.getLogger(__name__)

# What the owner reads when the filter cannot run: never the model's path or the reason
# (the engine log has them), but who can fix it and how.
UNAVAILABLE = (
    "The safety filter could not run on the engine, so these pictures were withheld. "
    "The bot's operator must run `petbooth download-models` on the engine's machine."
)


class SafetyUnavailableError(RuntimeError):
    """The model cannot be loaded (or names none of the flag labels): no picture that
    needs a check may be posted. str() is for the pictures' owner."""


class SafetyClassifier:
    """``flagged(images)``: which pictures to withhold. Loads at the first call; a failed
    load is tried again at the next job (the operator may have downloaded it meanwhile).

    Why at the first call and not with the resident pipeline: a training's memory budget
    is what is free plus what this process already holds (`memory_budget_gib`), so a
    classifier loaded beforehand would be counted as the training's all the same; its
    343 MB (fp32 ViT-base) fits the 10 % the budget leaves aside (2.4 GB on a 24 GB card)
    whenever it loads. Engines that draw only unchecked pictures never load it at all."""

    def __init__(self, model: str, threshold: float, flag_labels: tuple[str, ...], device: str):
        self._reference = model
        self._threshold = threshold
        self._flag_labels = {label.lower() for label in flag_labels}
        self._device = device
        self._loaded: tuple[PreTrainedModel, BaseImageProcessor, list[int]] | None = None
        self._lock = threading.Lock()  # the engine's thread and a training's both draw

    def flagged(self, images: Sequence[Image.Image]) -> list[bool]:
        """One batch: at most `generation.max_count` (8) pictures a job."""
        if not images:
            return []
        import torch

        with self._lock:
            model, processor, flag_ids = self._load()
            inputs = processor(images=[i.convert("RGB") for i in images], return_tensors="pt")
            with torch.inference_mode():
                logits = model(**inputs.to(model.device)).logits
        flagged = logits.float().softmax(dim=-1)[:, flag_ids].sum(dim=-1)
        return [bool(p >= self._threshold) for p in flagged.tolist()]

    def _load(self) -> tuple[PreTrainedModel, BaseImageProcessor, list[int]]:
        if self._loaded is None:
            self._loaded = self._from_pretrained()
        return self._loaded

    def _from_pretrained(self) -> tuple[PreTrainedModel, BaseImageProcessor, list[int]]:
        from huggingface_hub.errors import EntryNotFoundError
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        from engine.models.loading import resolve_device

        reference = self._reference
        try:
            model: Any = AutoModelForImageClassification.from_pretrained(reference)
            processor = AutoImageProcessor.from_pretrained(reference, backend="pil")
        except (OSError, EntryNotFoundError, ValueError) as err:
            lines = str(err).strip().splitlines()  # transformers' OSError runs to a paragraph
            log.error(
                "safety model %r could not be loaded (%s): run `petbooth download-models`, "
                "or set PETBOOTH_SAFETY__MODEL to a local directory",
                reference,
                lines[0] if lines else type(err).__name__,
            )
            raise SafetyUnavailableError(UNAVAILABLE) from err
        labels = {int(i): str(name).lower() for i, name in model.config.id2label.items()}
        flag_ids = sorted(i for i, name in labels.items() if name in self._flag_labels)
        if not flag_ids:
            log.error(
                "safety model %r has labels %s, none of PETBOOTH_SAFETY__FLAG_LABELS %s",
                reference,
                sorted(labels.values()),
                sorted(self._flag_labels),
            )
            raise SafetyUnavailableError(UNAVAILABLE)
        model.requires_grad_(False)
        model.eval()  # dropout off: the same picture always gets the same verdict
        model.to(resolve_device(self._device))  # fp32: 343 MB for the default ViT-base
        log.info("safety model %s loaded on %s", reference, model.device)
        return model, processor, flag_ids


def classifier_for(settings: SafetySettings, device: str) -> SafetyClassifier:
    """The process's one classifier for these settings (an engine process has one device)."""
    return _classifier(settings.model, settings.threshold, tuple(settings.flag_labels), device)


@functools.lru_cache(maxsize=4)
def _classifier(
    model: str, threshold: float, flag_labels: tuple[str, ...], device: str
) -> SafetyClassifier:
    return SafetyClassifier(model, threshold, flag_labels, device)
