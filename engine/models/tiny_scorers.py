"""Tiny random scoring models for tests and offline demos: a DINO-style ViT and a CLIP, with
their image processors and tokenizer, saved with save_pretrained so they load through the
same `from_pretrained` path as the real ones (`PETBOOTH_SCORING__*_MODEL=<directory>`).

Random weights give meaningless but real scores: finite cosines in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    CLIPTokenizer,
    ViTConfig,
    ViTImageProcessorPil,
    ViTModel,
)

from engine.models.tiny import MAX_TOKENS, build_tiny_tokenizer

IMAGE_SIZE = 32  # two 16 px patches a side, DINO ViT-S/16's patch size: milliseconds per image
_WIDTH = 32  # hidden size of every tower


def build_tiny_scorers(directory: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write `directory/identity` and `directory/prompt`; return them."""
    identity, prompt = directory / "identity", directory / "prompt"
    square = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    torch.manual_seed(seed)
    _identity_model().save_pretrained(identity)
    ViTImageProcessorPil(size=square).save_pretrained(identity)
    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    _clip_model(tokenizer).save_pretrained(prompt)
    tokenizer.save_pretrained(prompt)
    CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE}, crop_size=square).save_pretrained(
        prompt
    )
    return identity, prompt


def _identity_model() -> ViTModel:
    # With its pooler, so loading it back through AutoModel finds every weight it expects.
    return ViTModel(
        ViTConfig(
            image_size=IMAGE_SIZE,
            patch_size=16,
            hidden_size=_WIDTH,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
        )
    )


def _clip_model(tokenizer: CLIPTokenizer) -> CLIPModel:
    # The text features are read at the EOS position, so the ids must be the tokenizer's.
    text = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "hidden_size": _WIDTH,
        "intermediate_size": 37,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "max_position_embeddings": MAX_TOKENS,
    }
    vision = {
        "image_size": IMAGE_SIZE,
        "patch_size": 16,
        "hidden_size": _WIDTH,
        "intermediate_size": 37,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
    }
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=_WIDTH))
