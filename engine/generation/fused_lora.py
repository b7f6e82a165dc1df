"""`generation.fuse_lora`: a resting engine draws with the pets' LoRAs added into the UNet's
own weights, not beside them.

Beside them, peft runs a few more small kernels per projection (the input cast, A, B, the
scaled add) on each of SDXL's 560 attention projections at each of a picture's 30 steps: on
an H200 a 1024 px picture took 3.37 s with a LoRA in the slot and 2.82 s without
(BENCHMARKS.md). Added into the weights, the UNet runs as plain SDXL.

Each picture adds the slots' current weights (already swapped in, at the request's scale)
into the projections, in fp32 then rounded once to the weights' dtype, and puts the
untouched weights back from a copy afterwards: never by subtracting, which in bf16 would
drift the base model a little with every picture. The copy holds every projection a slot
covers: 1.9 GB on SDXL in bf16 (560 projections, 0.955e9 parameters, counted), on the
device, so putting them back is a device-to-device copy.

Only at rest: when a training borrows the pipeline the copy is freed (its memory planner
counts on what the engine holds at rest), and pictures served between its steps draw with
the slots beside the weights, as without this setting. A picture that runs out of GPU
memory drawn fused frees the copy first and is drawn again beside the weights, the same
picture (ResidentPipeline.generate); the next training's end takes the copy again. Off by
default until a GPU day measures it (bench/generate_speed.py --fuse-lora).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from peft.tuners.lora import LoraLayer

from engine.generation.lora_slot import SLOT

log = logging.getLogger(__name__)


class LoraFusion:
    """The projections the slots cover, and (while held) a copy of their own weights."""

    def __init__(self, unet: UNet2DConditionModel) -> None:
        self._unet = unet
        self._layers: list[LoraLayer] = [
            module
            for module in unet.modules()
            if isinstance(module, LoraLayer) and SLOT in module.lora_A
        ]
        self._own: list[torch.Tensor] | None = None

    @property
    def held(self) -> bool:
        """Whether pictures are drawn fused now (the copy exists)."""
        return self._own is not None

    def hold(self) -> None:
        """Copy the projections' own weights (once; again after a `release`). Out of
        memory, pictures go on drawing with the slots beside the weights (logged)."""
        if self._own is not None:
            return
        try:
            with torch.no_grad():
                self._own = [_weight(layer).detach().clone() for layer in self._layers]
        except torch.OutOfMemoryError:
            log.warning("no memory for generation.fuse_lora's copy: LoRAs run beside the UNet")

    def release(self) -> None:
        """Free the copy: pictures are drawn with the slots beside the weights until `hold`."""
        self._own = None

    @contextmanager
    def fused(self, adapters: list[str]) -> Iterator[None]:
        """Within: the UNet's projections carry `adapters`' weights (at their scalings) and
        every adapter is off, so the UNet computes no LoRA of its own. After: the projections'
        own weights, bit for bit, and the adapters on again."""
        own = self._own
        assert own is not None, "hold() first"
        try:
            with torch.no_grad():
                for layer, weight in zip(self._layers, own, strict=True):
                    added = weight.to(torch.float32, copy=True)  # never the copy itself
                    for adapter in adapters:
                        added += _delta(layer, adapter)
                    _weight(layer).copy_(added)
            self._unet.disable_adapters()
            yield
        finally:
            with torch.no_grad():
                for layer, weight in zip(self._layers, own, strict=True):
                    _weight(layer).copy_(weight)
            self._unet.enable_adapters()


def _weight(layer: LoraLayer) -> torch.Tensor:
    return _weight_of(layer.get_base_layer())


def _weight_of(linear: torch.nn.Module) -> torch.Tensor:
    weight = linear.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def _delta(layer: LoraLayer, adapter: str) -> torch.Tensor:
    """B·A x scaling in fp32: what the adapter adds to the projection's weight."""
    down, up = (_weight_of(modules[adapter]) for modules in (layer.lora_A, layer.lora_B))
    return (up.float() @ down.float()) * layer.scaling[adapter]
