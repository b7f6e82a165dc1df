"""One fixed LoRA adapter slot in the resident UNet, whose weights are swapped per subject.

Why a slot of our own and not diffusers' `enable_lora_hotswap` + `load_lora_weights(...,
hotswap=True)`: both end in the same two peft calls used here
(`prepare_model_for_compiled_hotswap`, then `hotswap_adapter_from_state_dict`), but diffusers
runs the first one when the *first* LoRA is loaded, on *every* adapter the UNet has. If that
first load happened while a training adapter was present (a generation served between
optimizer steps), peft would pad and re-create the training adapter's parameters, leaving the
optimizer updating tensors the model no longer uses. Here the slot is created, zeroed and
prepared once when the pipeline loads, before any training adapter exists; every later swap
touches only the slot (`adapter_name=SLOT`), copies in place (so a compiled UNet does not
recompile) and zero-pads a smaller rank into the slot's `rank`. A request's LoRA scale is
written into the same scaling tensors in place (alpha / r x scale), never kept as a float.

Two pets in one picture use a second slot (`SLOT_2`), made and prepared in the same step as
the first (`LoraSlots`): peft's preparation pads every adapter the UNet has, so it runs once,
on both, before any training adapter exists. The second slot is active only for two-pet
pictures (`unet.set_adapter([SLOT, SLOT_2])`); a one-pet picture computes one LoRA, as before.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.utils import convert_unet_state_dict_to_peft
from peft import LoraConfig
from peft.tuners.lora import LoraLayer
from peft.utils.hotswap import hotswap_adapter_from_state_dict, prepare_model_for_compiled_hotswap
from safetensors import safe_open
from safetensors.torch import load_file

from engine.training.checkpoints import LORA_WEIGHTS
from engine.training.loop import LORA_TARGETS

SLOT = "petbooth_imagine"  # must not contain "default", the training adapter's name
# Neither slot's name may contain the other's: peft's hot-swap finds a slot's tensors by
# substring (`adapter_name in key`), so a "petbooth_imagine_2" would be zeroed by every swap
# into the first slot.
SLOT_2 = "petbooth_second"
_METADATA_KEY = "lora_adapter_metadata"  # where diffusers' save_lora_weights puts LoraConfig
_PEFT_WEIGHT = re.compile(r"\.(lora_[AB])\.weight$")


class LoraUnusableError(ValueError):
    """A LoRA file the slot cannot take; str() is for the person who asked for the image."""


@dataclass(frozen=True)
class SubjectLora:
    """A LoRA read from disk, keyed for the slot (``...to_q.lora_A.<SLOT>.weight``)."""

    source: Path
    weights: dict[str, torch.Tensor]
    config: LoraConfig  # r and lora_alpha set the slot's scaling on every swap

    @property
    def rank(self) -> int:
        return int(self.config.r)

    @property
    def scaling(self) -> float:
        """alpha / r: what peft multiplies the LoRA's output by at full strength."""
        return float(self.config.lora_alpha) / self.rank

    def weights_for(self, adapter: str) -> dict[str, torch.Tensor]:
        """The same tensors keyed for `adapter`'s slot: only the names change, no copy."""
        if adapter == SLOT:
            return self.weights
        return {k.replace(f".{SLOT}.", f".{adapter}."): v for k, v in self.weights.items()}


def read_lora(path: Path) -> SubjectLora:
    """A diffusers-format UNet LoRA (a directory holding LORA_WEIGHTS, or the file itself)."""
    file = path / LORA_WEIGHTS if path.is_dir() else path
    if not file.is_file():
        raise LoraUnusableError(f"The LoRA file {file.name} is missing; train the pet again.")
    state = load_file(file)
    foreign = sorted({key.split(".")[0] for key in state if not key.startswith("unet.")})
    if foreign:
        raise LoraUnusableError(
            f"This LoRA also changes {', '.join(foreign)}; only UNet LoRAs can be swapped in."
        )
    peft_keys = convert_unet_state_dict_to_peft(
        {k.removeprefix("unet."): v for k, v in state.items()}
    )
    weights = {_PEFT_WEIGHT.sub(rf".\1.{SLOT}.weight", k): v for k, v in peft_keys.items()}
    ranks = {v.shape[0] for k, v in weights.items() if ".lora_A." in k}
    if len(ranks) != 1:
        raise LoraUnusableError("This LoRA has layers of different ranks; it cannot be swapped in.")
    rank = ranks.pop()
    alpha = _stored_alpha(file) or rank
    # peft annotates lora_alpha as int; a float works the same (scaling = alpha / r).
    return SubjectLora(file, weights, LoraConfig(r=rank, lora_alpha=alpha))  # type: ignore[arg-type]


def _stored_alpha(file: Path) -> float | None:
    with safe_open(str(file), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if _METADATA_KEY not in metadata:
        return None
    config = json.loads(metadata[_METADATA_KEY])
    alpha = config.get("unet.lora_alpha", config.get("lora_alpha"))
    return float(alpha) if alpha is not None else None


class LoraCache:
    """The `size` most recently used LoRAs, in host memory (~10 MB each at rank 4 on SDXL)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, int], SubjectLora] = OrderedDict()

    def get(self, path: Path) -> SubjectLora:
        file = path / LORA_WEIGHTS if path.is_dir() else path
        # The file's mtime is in the key: a re-trained pet's new LoRA is never served stale.
        key = (str(file.resolve()), file.stat().st_mtime_ns if file.exists() else 0)
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        lora = read_lora(path)
        self._entries[key] = lora
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return lora


class LoraSlots:
    """Both slot adapters on `unet`, added and prepared for hot-swap together, both zero.
    `lora_slot_rank` is each slot's rank: at the default 32 a slot holds 46.4 M parameters on
    SDXL, 93 MB in bf16, so the second slot costs that much device memory, once."""

    def __init__(self, unet: UNet2DConditionModel, rank: int) -> None:
        config = LoraConfig(r=rank, lora_alpha=rank, target_modules=LORA_TARGETS)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # peft's init draws from the global RNG, and warns that a second adapter is added
            warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
            for adapter in (SLOT, SLOT_2):
                unet.add_adapter(config, adapter_name=adapter)
        # Scalings become tensors (a swap fills them in place): a compiled UNet keeps its graph.
        prepare_model_for_compiled_hotswap(unet, target_rank=rank, check_compiled="error")
        self.first = LoraSlot(unet, rank, SLOT)
        self.second = LoraSlot(unet, rank, SLOT_2)
        unet.set_adapter(SLOT)  # add_adapter activated the last one added: rest on the first

    def load(self, first: SubjectLora, second: SubjectLora | None, scale: float) -> list[str]:
        """Swap the pets' LoRAs in (both at `scale`); returns the adapters to activate: the
        second slot only for two pets, so a one-pet picture adds no second LoRA's compute."""
        self.first.load(first, scale)
        if second is None:
            return [SLOT]
        self.second.load(second, scale)
        return [SLOT, SLOT_2]


class LoraSlot:
    """One slot adapter on `unet` (made by `LoraSlots`): zero (a no-op) until a subject's
    LoRA is swapped in."""

    def __init__(self, unet: UNet2DConditionModel, rank: int, adapter: str) -> None:
        self.unet = unet
        self.rank = rank
        self.adapter = adapter
        # The same tensor objects for the slot's life: swaps and scales fill them in place.
        self._scalings: list[torch.Tensor] = [
            module.scaling[adapter]
            for module in unet.modules()
            if isinstance(module, LoraLayer) and adapter in module.scaling
        ]
        self._scaling: float | None = None  # what every tensor in `_scalings` holds now
        self.loaded: SubjectLora | None = None
        self.clear()

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for name, p in self.unet.named_parameters() if f".{self.adapter}." in name]

    def clear(self) -> None:
        """All slot weights to zero: an active slot then adds exactly nothing."""
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.zero_()
        self.loaded = None

    def load(self, lora: SubjectLora, scale: float = 1.0) -> None:
        """Copy `lora` into the slot in place, zero-padded to the slot's rank, applied at
        `scale` times its trained strength (0: the base model, exactly; 1: as trained)."""
        if lora is not self.loaded:  # else still in the slot since the last request
            self._swap(lora)
        self._set_scaling(lora.scaling * scale)

    def _set_scaling(self, scaling: float) -> None:
        """Every slot layer's scaling to `scaling`, in place: no allocation, and a compiled
        UNet reads the new value without recompiling (the tensors are graph inputs)."""
        if scaling == self._scaling:
            return
        for tensor in self._scalings:
            tensor.fill_(scaling)
        self._scaling = scaling

    def _swap(self, lora: SubjectLora) -> None:
        if lora.rank > self.rank:
            raise LoraUnusableError(
                f"This LoRA has rank {lora.rank}; the engine swaps LoRAs up to rank {self.rank} "
                "(PETBOOTH_GENERATION__LORA_SLOT_RANK)."
            )
        self.loaded = None  # a failure half-way must not leave a stale name behind
        self._scaling = None  # peft's swap writes alpha / r into the layers it loads
        try:
            with torch.no_grad():
                hotswap_adapter_from_state_dict(
                    self.unet, lora.weights_for(self.adapter), self.adapter, lora.config
                )
        except RuntimeError as err:  # peft: the LoRA targets layers the slot does not cover
            self.clear()
            raise LoraUnusableError(
                "This LoRA changes layers the engine's adapter slot does not cover."
            ) from err
        self.loaded = lora
