"""A tiny random SDXL pipeline for tests: real diffusers classes, toy sizes, no download.

Shaped like diffusers' own SDXL pipeline test components, so everything that works on it
(LoRA on `to_q/to_k/to_v/to_out.0`, both text encoders, micro-conditioning) works on the
real model. Weights are random: images are noise, but real, non-constant noise.
"""

from __future__ import annotations

from pathlib import Path

import torch

# Submodule imports: under mypy the top-level `diffusers` names are dummy placeholder classes.
from diffusers.models import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.schedulers import EulerDiscreteScheduler
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MAX_TOKENS = 77  # CLIP's context length; SDXL pads and truncates every prompt to it


def _byte_level_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for raw bytes (GPT-2's table)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def build_tiny_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer built offline: every byte, alone and word-final, and no merges.

    Laid out like CLIP's real vocab (bytes, then bytes + "</w>", then the two specials last),
    so any text tokenizes, one token per byte: 514 tokens in all.
    """
    chars = _byte_level_chars()
    tokens = [*chars, *(c + "</w>" for c in chars), BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=MAX_TOKENS)
    return tokenizer


def _text_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    # The pooled output is read at the EOS position, so the ids must be the tokenizer's.
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=5,
        max_position_embeddings=MAX_TOKENS,
        layer_norm_eps=1e-5,
        hidden_act="gelu",
        projection_dim=32,
    )


def _unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,  # latents; x2 for the two-block VAE gives 64x64 images by default
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + pooled text (32)
        cross_attention_dim=64,  # both encoders' hidden states side by side: 32 + 32
        norm_num_groups=1,  # SD's 32 groups would normalise each of 32 channels alone
    )


def _vae() -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=64,
    )


def sdxl_scheduler() -> EulerDiscreteScheduler:
    """SDXL base 1.0's scheduler settings."""
    return EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
        prediction_type="epsilon",
        interpolation_type="linear",
        use_karras_sigmas=False,
    )


def assemble_sdxl(
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    text_encoder_2: CLIPTextModelWithProjection,
    tokenizer: CLIPTokenizer,
) -> StableDiffusionXLPipeline:
    """An SDXL pipeline from built components, with SDXL's scheduler and no watermarker
    (it would be most of a 64x64 image, and benchmarks time the model, not the mark)."""
    pipeline = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        # diffusers annotates this with the KarrasDiffusionSchedulers enum, not a class.
        scheduler=sdxl_scheduler(),  # type: ignore[arg-type]
        add_watermarker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def build_tiny_sdxl(directory: Path, seed: int = 0) -> Path:
    """Build a tiny random SDXL pipeline, save it to `directory` (about 11 MB), return it;
    tiny random scorers go to `directory/scorers/identity` and `.../prompt` (0.5 MB), a
    tiny safety classifier that flags nothing to `directory/safety` (0.1 MB).

    The same seed builds identical weights: each component is built after reseeding, so
    adding or resizing one component does not change the others.
    """
    from engine.models.tiny_safety import build_tiny_safety
    from engine.models.tiny_scorers import build_tiny_scorers  # it imports this module

    tokenizer = build_tiny_tokenizer()
    torch.manual_seed(seed)
    unet = _unet()
    torch.manual_seed(seed)
    vae = _vae()
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_text_config(tokenizer))
    torch.manual_seed(seed)
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(tokenizer))
    pipeline = assemble_sdxl(unet, vae, text_encoder, text_encoder_2, tokenizer)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory, safe_serialization=True)
    build_tiny_scorers(directory / "scorers", seed)
    build_tiny_safety(directory / "safety")
    return directory
