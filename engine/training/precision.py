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
    use_8bit_adam: bool  # gradient checkpointing is the memory plan's (engine.training.plan)

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
    # 8-bit Adam exists on CUDA only (bitsandbytes).
    return cuda if setting == "auto" else setting == "on"


# Of the memory free when a training starts (plus what the engine already holds): the rest
# is for the allocator's fragmentation, since plans are estimated in allocated bytes and the
# allocator reserves blocks above them.
_BUDGET_SHARE = 0.9


def memory_budget_gib(setting: float | None, device: torch.device) -> float | None:
    """The GPU memory a training may plan for: `setting` when given (Settings.gpu_memory_gib),
    else what is free on the device now plus what this process already holds (the resident
    pipeline), less a margin. None on the CPU: no budget."""
    if device.type != "cuda":
        return None
    if setting is not None:
        return setting
    free, _ = torch.cuda.mem_get_info(device)
    held = torch.cuda.memory_reserved(device)
    return round((free + held) / 2**30 * _BUDGET_SHARE, 2)
