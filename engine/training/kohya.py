"""The pet's LoRA keyed the way kohya's sd-scripts key it, for ComfyUI and A1111/Forge.

diffusers (and petbooth's own /imagine) load ``pytorch_lora_weights.safetensors``; ComfyUI
and AUTOMATIC1111/Forge load kohya keys instead. The same weights, renamed:

    down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight   (peft)
    lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight
    lora_unet_..._to_q.lora_up.weight     (lora_B)
    lora_unet_..._to_q.alpha              scalar: the layer adds (alpha / rank) * up @ down

Module paths keep diffusers' block names (``down_blocks_1_attentions_0``), not SGM's
(``input_blocks_4_1``): that is what diffusers' ``--output_kohya_format`` writes, and both
ComfyUI (``comfy/lora.py``, ``model_lora_keys_unet``) and A1111 (``lora_convert.py``) map it
onto SDXL's layers. Not diffusers' ``convert_state_dict_to_kohya``: it writes every alpha as
the rank (an int64), whatever the LoraConfig said; here alpha is the config's.

The weights are saved in fp16, as kohya's scripts save LoRAs for sharing (and as most
published SDXL LoRAs are): half the size (11.6 MB at rank 4 on SDXL instead of 23.2 MB),
which is what /export hands over, and the programs that load it compute in half
precision anyway. The diffusers file beside it keeps the training's fp32.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import save_file

_PEFT_KEY = re.compile(r"(?P<module>.+)\.lora_(?P<part>[AB])\.weight")
_KOHYA_PART = {"A": "lora_down", "B": "lora_up"}

# A1111 files a LoRA under the base model its metadata names; a file with metadata but no
# "sdxl_" version is listed as SD 1.x and hidden while an SDXL checkpoint is loaded.
_SDXL_BASE = "sdxl_base_v1-0"


def kohya_state_dict(peft_state: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """A UNet LoRA keyed as peft keys it (``<module>.lora_A.weight``), keyed for kohya."""
    kohya: dict[str, torch.Tensor] = {}
    for key, weight in peft_state.items():
        found = _PEFT_KEY.fullmatch(key)
        if found is None:
            raise ValueError(f"not a UNet LoRA weight: {key}")
        module = "lora_unet_" + found["module"].replace(".", "_")
        part = _KOHYA_PART[found["part"]]
        kohya[f"{module}.{part}.weight"] = weight.detach().to(torch.float16).contiguous()
        kohya[f"{module}.alpha"] = torch.tensor(float(alpha))
    return kohya


def save_kohya(path: Path, peft_state: dict[str, torch.Tensor], rank: int, alpha: float) -> None:
    """Write the kohya file. Callers write into a temporary directory that they rename into
    place (as ``save_lora``'s callers do), so the file appears whole or not at all."""
    metadata = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(float(alpha)),
        "ss_base_model_version": _SDXL_BASE,
    }
    save_file(kohya_state_dict(peft_state, alpha), str(path), metadata=metadata)
