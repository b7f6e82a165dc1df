"""A growth that continues starts its adapter from the pet's LoRA, not from scratch."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from engine.orders.lora_files import LORA_WEIGHTS
from engine.training import train_lora
from tests.engine.training._runs import RecordingHooks, Run, make_request


def _up_weights(path: Path) -> torch.Tensor:
    """Every LoRA "up" (B) matrix of a file, flat: zero in a fresh adapter."""
    weights = load_file(path)
    ups = [weights[k].flatten().float() for k in sorted(weights) if ".up." in k or "lora_B" in k]
    assert ups
    return torch.cat(ups)


def test_a_continued_growth_starts_from_the_old_lora(
    four_steps: Run, tiny_model_dir: Path, tmp_path: Path
) -> None:
    old = four_steps.result.lora_dir / LORA_WEIGHTS
    request = make_request(
        tmp_path, tiny_model_dir, four_steps.request.photo_paths, steps=1, checkpoint_every=1
    )
    hooks = RecordingHooks()
    train_lora(replace(request, init_lora=old), hooks)
    first = hooks.checkpoints[0][1] / LORA_WEIGHTS
    before, after = _up_weights(old), _up_weights(first)
    # One step at lr 1e-3 moves each weight by about 1e-3; four steps put the old ones far
    # further from zero than that.
    assert torch.linalg.vector_norm(after - before) < 0.5 * torch.linalg.vector_norm(before)
