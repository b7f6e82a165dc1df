"""LoRA checkpoints on disk: written atomically, read back defensively, pruned.

    job_dir/checkpoints/step-000100/
        pytorch_lora_weights.safetensors   diffusers format: pipeline.load_lora_weights(dir)
        pet_kohya.safetensors              the same LoRA in kohya format (ComfyUI, A1111/Forge)
        optimizer.pt                       optimizer (and fp16 loss-scaler) state
        rng.pt                             torch/python/numpy/cuda RNG states
        state.json                         step, loss, resolved config, token, class, model

Resume reads the LoRA back from the same diffusers-format file a user would load, so the
file that is shipped is the file that is tested.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.utils import convert_state_dict_to_diffusers, convert_unet_state_dict_to_peft
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from safetensors.torch import load_file

from engine.orders.lora_files import KOHYA_WEIGHTS, LORA_WEIGHTS, RESUME_ONLY_FILES
from engine.training.kohya import save_kohya

log = logging.getLogger(__name__)

_STEP_DIR = re.compile(r"step-(\d{6,})")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int
    loss: float
    lora: dict[str, torch.Tensor]  # diffusers keys ("unet....lora.down.weight")
    optimizer: dict[str, Any]  # {"optimizer": state_dict, "grad_scaler": state_dict | None}
    rng: dict[str, Any]


def checkpoints_root(job_dir: Path) -> Path:
    return job_dir / "checkpoints"


def save_lora(directory: Path, unet: UNet2DConditionModel) -> None:
    """The UNet's LoRA in diffusers format, with its LoraConfig as safetensors metadata, and
    the same weights in kohya format beside it (what ComfyUI and A1111/Forge load)."""
    weights = get_peft_model_state_dict(unet)
    config = unet.peft_config["default"]
    StableDiffusionXLPipeline.save_lora_weights(
        directory,
        unet_lora_layers=convert_state_dict_to_diffusers(weights),
        unet_lora_adapter_metadata=config.to_dict(),
    )
    save_kohya(directory / KOHYA_WEIGHTS, weights, rank=config.r, alpha=config.lora_alpha)


def apply_lora(unet: UNet2DConditionModel, lora: dict[str, torch.Tensor]) -> None:
    """Load diffusers-format LoRA weights into the UNet's (already added) default adapter."""
    unet_keys = {k.removeprefix("unet."): v for k, v in lora.items() if k.startswith("unet.")}
    result = set_peft_model_state_dict(unet, convert_unet_state_dict_to_peft(unet_keys))
    unexpected = getattr(result, "unexpected_keys", None)
    if unexpected:
        raise ValueError(f"checkpoint LoRA does not match this UNet: {unexpected[:3]} ...")


def start_from_lora(unet: UNet2DConditionModel, weights: Path) -> None:
    """A growth's starting point: the pet's LoRA file loaded into the freshly added adapter
    (the same rank; a file of another rank raises, and /grow refuses that case up front)."""
    apply_lora(unet, load_file(weights))


def save_checkpoint(
    job_dir: Path,
    step: int,
    unet: UNet2DConditionModel,
    optimizer_state: dict[str, Any],
    state: dict[str, Any],
) -> Path:
    """Write checkpoint `step` into a temporary directory, then rename it into place."""
    root = checkpoints_root(job_dir)
    final = root / f"step-{step:06d}"
    temporary = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    save_lora(temporary, unet)
    torch.save(optimizer_state, temporary / "optimizer.pt")
    torch.save(_rng_state(), temporary / "rng.pt")
    (temporary / "state.json").write_text(json.dumps({"step": step, **state}, indent=2))
    replace_directory(temporary, final)
    return final


def replace_directory(source: Path, target: Path) -> None:
    # os.replace cannot overwrite a non-empty directory: move the old one aside first (a
    # re-run may rewrite a step whose first copy was unreadable).
    if target.exists():
        aside = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, aside)
        os.replace(source, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(source, target)


def read_checkpoint(path: Path) -> Checkpoint:
    """Every file of a checkpoint, loaded; raises if any of them is missing or damaged."""
    state = json.loads((path / "state.json").read_text())
    return Checkpoint(
        path=path,
        step=int(state["step"]),
        loss=float(state["loss"]),
        lora=load_file(path / LORA_WEIGHTS),
        optimizer=torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True),
        rng=torch.load(path / "rng.pt", map_location="cpu", weights_only=True),
    )


def newest_readable_checkpoint(job_dir: Path) -> Checkpoint | None:
    """The newest checkpoint that loads completely; damaged newer ones are skipped."""
    for path in checkpoint_dirs(job_dir):
        if not (path / RESUME_ONLY_FILES[0]).exists():
            continue  # pruned down to its LoRA: choosable, not resumable
        try:
            return read_checkpoint(path)
        except Exception as err:  # any damage at all means "not this one"
            log.warning("Skipping unreadable checkpoint %s: %s", path, err)
    return None


def latest_checkpoint(job_dir: Path) -> Path | None:
    """The newest checkpoint directory that loads, or None if there is none."""
    checkpoint = newest_readable_checkpoint(job_dir)
    return checkpoint.path if checkpoint else None


def prune_checkpoints(job_dir: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints whole, for resuming. Older ones lose their
    optimizer and RNG state but keep their LoRA weights and state.json (a few MB at rank
    4), because every preview in Discord offers its step as the pet's model. Leftovers of
    killed writes are removed."""
    for path in checkpoint_dirs(job_dir)[keep:]:
        for name in RESUME_ONLY_FILES:
            (path / name).unlink(missing_ok=True)
    root = checkpoints_root(job_dir)
    for leftover in root.glob(".tmp-*"):
        if not leftover.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(leftover, ignore_errors=True)


def checkpoint_dirs(job_dir: Path) -> list[Path]:
    """Checkpoint directories, newest step first: each whole (written aside, then renamed)."""
    root = checkpoints_root(job_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _STEP_DIR.fullmatch(p.name)]
    return sorted(found, key=checkpoint_step, reverse=True)


def checkpoint_step(path: Path) -> int:
    """The step of a checkpoint directory (step-000300: 300)."""
    return int(path.name.removeprefix("step-"))


def _rng_state() -> dict[str, Any]:
    # Saved for completeness; resume correctness never depends on it, because every step
    # draws from generators seeded with (seed, step).
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy_key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
        "numpy_pos": int(numpy_state["state"]["pos"]),
    }


def restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    random.setstate(rng["python"])
    key = rng["numpy_key"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", key, rng["numpy_pos"], 0, 0.0))
