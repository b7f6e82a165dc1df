"""Load the scoring models (transformers, from a hub id or a save_pretrained directory), with
errors a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from huggingface_hub.errors import EntryNotFoundError
from transformers import (
    AutoImageProcessor,
    AutoModel,
    AutoTokenizer,
    BaseImageProcessor,
    CLIPModel,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from engine.settings import ScoringSettings

_WHAT_TO_DO = (
    "Run `petbooth download-models` on a machine with network, set {setting} to a local "
    "directory written by save_pretrained, or turn scoring off with "
    "PETBOOTH_SCORING__ENABLED=false (then every pet uses its final step)."
)


class ScorerUnavailableError(RuntimeError):
    """A scoring model cannot be loaded here; str() says what to do about it."""


@dataclass(frozen=True)
class ScoringModels:
    identity: PreTrainedModel  # DINO ViT: its CLS embedding is the identity feature
    identity_images: BaseImageProcessor
    clip: CLIPModel  # image and text towers for CLIP-I and CLIP-T
    clip_images: BaseImageProcessor
    clip_tokenizer: PreTrainedTokenizerBase

    def all(self) -> tuple[torch.nn.Module, ...]:
        return (self.identity, self.clip)


def load_scoring_models(settings: ScoringSettings) -> ScoringModels:
    """Both scorers in fp32 on the CPU, in eval mode (dropout off: the same image always
    gets the same score). Images are prepared with the PIL backend, the original models'
    resizing (and torchvision is not a petbooth dependency)."""
    identity_ref, prompt_ref = settings.identity_model, settings.prompt_model
    try:
        identity = AutoModel.from_pretrained(identity_ref)
        identity_images = AutoImageProcessor.from_pretrained(identity_ref, backend="pil")
    except (OSError, EntryNotFoundError, ValueError) as err:
        raise _unavailable(identity_ref, "PETBOOTH_SCORING__IDENTITY_MODEL", err) from err
    try:
        clip = CLIPModel.from_pretrained(prompt_ref)
        clip_images = AutoImageProcessor.from_pretrained(prompt_ref, backend="pil")
        clip_tokenizer = AutoTokenizer.from_pretrained(prompt_ref)
    except (OSError, EntryNotFoundError, ValueError) as err:
        raise _unavailable(prompt_ref, "PETBOOTH_SCORING__PROMPT_MODEL", err) from err
    for model in (identity, clip):
        model.requires_grad_(False)
        model.eval()
    return ScoringModels(identity, identity_images, clip, clip_images, clip_tokenizer)


def _unavailable(reference: str, setting: str, err: BaseException) -> ScorerUnavailableError:
    lines = str(err).strip().splitlines()  # transformers' OSError runs to a paragraph
    reason = lines[0] if lines else type(err).__name__
    return ScorerUnavailableError(
        f"Scoring model '{reference}' could not be loaded ({reason}). "
        + _WHAT_TO_DO.format(setting=setting)
    )
