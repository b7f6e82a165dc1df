"""Full-size SDXL base 1.0 with random weights, built from its configs: no download.

For GPU benchmarks only: it has SDXL's exact shapes, so memory and speed match the real
model, but it draws noise. The configs are SDXL base 1.0's config.json files as dicts.
"""

from __future__ import annotations

from typing import Any

import torch

# Submodule imports: under mypy the top-level `diffusers` names are dummy placeholder classes.
from diffusers.models import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from engine.models.tiny import assemble_sdxl, build_tiny_tokenizer

CLIP_VOCAB_SIZE = 49408  # the real tokenizers' size; the tiny tokenizer's ids are all below it


def unet_config() -> dict[str, Any]:
    """SDXL base 1.0 unet/config.json (about 2.57e9 parameters)."""
    return {
        "sample_size": 128,  # latents for 1024x1024 images
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": [320, 640, 1280],
        "layers_per_block": 2,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "transformer_layers_per_block": [1, 2, 10],
        "attention_head_dim": [5, 10, 20],
        "cross_attention_dim": 2048,  # CLIP-L 768 + OpenCLIP bigG 1280
        "use_linear_projection": True,
        "addition_embed_type": "text_time",
        "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": 256,
        "projection_class_embeddings_input_dim": 2816,  # 6 time ids x 256 + pooled 1280
        "norm_num_groups": 32,
        "norm_eps": 1e-5,
        "act_fn": "silu",
        "flip_sin_to_cos": True,
        "freq_shift": 0,
    }


def vae_config() -> dict[str, Any]:
    """SDXL base 1.0 vae/config.json."""
    return {
        "sample_size": 1024,
        "in_channels": 3,
        "out_channels": 3,
        "latent_channels": 4,
        "block_out_channels": [128, 256, 512, 512],
        "layers_per_block": 2,
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "norm_num_groups": 32,
        "act_fn": "silu",
        "scaling_factor": 0.13025,
        "force_upcast": True,  # SDXL's own VAE overflows in fp16
    }


def _clip_text_common() -> dict[str, Any]:
    # eos_token_id 2 is what the real configs say: transformers then takes the pooled output
    # at the highest token id, which is EOS in CLIP's vocab and in the tiny tokenizer alike.
    return {
        "vocab_size": CLIP_VOCAB_SIZE,
        "max_position_embeddings": 77,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
        "layer_norm_eps": 1e-5,
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "initializer_range": 0.02,
        "initializer_factor": 1.0,
    }


def text_encoder_config() -> dict[str, Any]:
    """SDXL base 1.0 text_encoder/config.json: OpenAI CLIP ViT-L/14's text tower."""
    return {
        **_clip_text_common(),
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "projection_dim": 768,
        "hidden_act": "quick_gelu",
    }


def text_encoder_2_config() -> dict[str, Any]:
    """SDXL base 1.0 text_encoder_2/config.json: OpenCLIP ViT-bigG/14's text tower."""
    return {
        **_clip_text_common(),
        "hidden_size": 1280,
        "intermediate_size": 5120,
        "num_hidden_layers": 32,
        "num_attention_heads": 20,
        "projection_dim": 1280,
        "hidden_act": "gelu",
    }


def build_full_size_sdxl(
    dtype: torch.dtype = torch.float16, device: str | torch.device = "cpu"
) -> StableDiffusionXLPipeline:
    """A randomly initialised SDXL base 1.0 pipeline on `device` in `dtype`.

    Parameters are created directly on `device` (a GPU builds it in seconds; the CPU needs
    about 14 GB of RAM for the fp32 initialisation), then cast to `dtype`.
    """
    tokenizer = build_tiny_tokenizer()
    with torch.device(device):
        unet = UNet2DConditionModel.from_config(unet_config())
        vae = AutoencoderKL.from_config(vae_config())
        text_encoder = CLIPTextModel(CLIPTextConfig(**text_encoder_config()))
        text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_encoder_2_config()))
    # Typed as plain modules: mypy misreads transformers' decorated `PreTrainedModel.to`.
    components: list[torch.nn.Module] = [unet, vae, text_encoder, text_encoder_2]
    for component in components:
        component.to(dtype)
    return assemble_sdxl(unet, vae, text_encoder, text_encoder_2, tokenizer)
