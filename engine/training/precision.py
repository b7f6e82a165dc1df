"""Turn the "auto" precision and memory settings into concrete choices for one device."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass

import torch

from engine.settings import TrainingDefaults

log = logging.getLogger(__name__)

_DTYPES: dict[str, torch.dtype] = {
    "no": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


@dataclass(frozen=True)
class Precision:
    weight_dtype: torch.dtype  # frozen SDXL weights; the LoRA's own weights are always fp32
    autocast: torch.dtype | None  # None: no autocast (full fp32)
    gradient_checkpointing: bool
    use_8bit_adam: bool

    @property
    def needs_grad_scaler(self) -> bool:
        # fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range.
        return self.autocast == torch.float16


def resolve_precision(config: TrainingDefaults, device: torch.device) -> Precision:
    """Raise ValueError listing every setting this device cannot honour."""
    cuda = device.type == "cuda"
    problems = []
    if not cuda and config.mixed_precision in ("fp16", "bf16"):
        problems.append(f"mixed_precision={config.mixed_precision} needs a CUDA device")
    if not cuda and config.use_8bit_adam == "on":
        problems.append("use_8bit_adam=on needs a CUDA device (bitsandbytes)")
    if problems:
        raise ValueError("; ".join(problems))
    auto = _best_half(device) if cuda else torch.float32
    dtype = _DTYPES.get(config.mixed_precision, auto)
    return Precision(
        weight_dtype=dtype,
        autocast=None if dtype == torch.float32 else dtype,
        gradient_checkpointing=_auto(config.gradient_checkpointing, cuda),
        use_8bit_adam=_auto(config.use_8bit_adam, cuda) and _bitsandbytes_for(config),
    )


def _bitsandbytes_for(config: TrainingDefaults) -> bool:
    """8-bit Adam needs bitsandbytes: "auto" trains with torch's AdamW without it (a LoRA's
    optimizer state is a few MB either way); "on" fails loudly at the optimizer instead."""
    if config.use_8bit_adam == "on" or importlib.util.find_spec("bitsandbytes") is not None:
        return True
    log.warning("bitsandbytes is not installed: training with torch's AdamW, not 8-bit Adam")
    return False


def _best_half(device: torch.device) -> torch.dtype:
    # Turing cards (T4, the seed's Colab GPU) have no fast bf16: fp16 with loss scaling.
    with torch.cuda.device(device):
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if native else torch.float16


def _auto(setting: str, cuda: bool) -> bool:
    # On CUDA both save most of the memory that decides whether SDXL fits a 16-24 GB card;
    # on the CPU they only cost time (checkpointing) or do not exist (8-bit Adam).
    return cuda if setting == "auto" else setting == "on"


# Rough GPU memory of an SDXL LoRA training at 1024 px, before it is measured on a card
# (BENCHMARKS.md, GPU day): the bf16 UNet, LoRA, optimizer and caches (~7 GB), plus the
# activations of one sample, which scale with the pixel count.
_BASE_GIB = 7.0
_SAMPLE_GIB = {True: 1.5, False: 8.0}  # per 1024 px sample, with / without checkpointing
_BUDGET_SHARE = 0.85  # of the free memory at start: room for a served /imagine and fragmentation


def micro_batch_size(config: TrainingDefaults, precision: Precision, device: torch.device) -> int:
    """How many samples go through the UNet at once; the rest of `effective_batch` is
    gradient accumulation. Any split trains the same LoRA (every sample has its own
    generator), so this only trades memory for speed: on the CPU 1 (a bigger batch is no
    faster there), on CUDA the largest divisor of effective_batch that fits."""
    if config.micro_batch != "auto":
        return config.micro_batch
    if device.type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    budget = free / 2**30 * _BUDGET_SHARE - _BASE_GIB
    per_sample = _SAMPLE_GIB[precision.gradient_checkpointing] * (config.resolution / 1024) ** 2
    fitting = [
        size
        for size in range(1, config.effective_batch + 1)
        if config.effective_batch % size == 0 and size * per_sample <= budget
    ]
    return max(fitting, default=1)
