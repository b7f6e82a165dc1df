"""What one `generate` job asks for, read from the job's params (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str  # the subject's token already in place of TOK
    negative_prompt: str  # "" for none: SDXL then conditions on zeros, as its pipeline does
    count: int
    seed: int  # image i is drawn with seed + i, so "same seed" redraws any one of them
    steps: int
    guidance_scale: float
    width: int
    height: int
    lora: Path | None  # the subject's LoRA (directory or file); None: plain SDXL
    subject: str | None  # the subject's name, for the result message
    # Times the LoRA's trained strength (its alpha / r): 0 draws the base model, 1 as trained.
    lora_scale: float = 1.0
    # A second pet in the same picture (its LoRA at the same scale, in the second slot).
    second_lora: Path | None = None
    second_subject: str | None = None
    # Vary / Upscale: the delivered picture redrawn img2img (fetched by `build_request`);
    # None draws from noise. Strength: the share of the denoising schedule redone from it.
    source_image: Path | None = None
    strength: float = 1.0
    tiled_vae: bool = False  # an upscale: the VAE encodes and decodes tile by tile

    @classmethod
    def from_params(
        cls,
        params: dict[str, Any],
        lora: Path | None,
        subject: str | None,
        second_lora: Path | None = None,
        second_subject: str | None = None,
    ) -> GenerateRequest:
        return cls(
            prompt=str(params["prompt"]),
            negative_prompt=str(params.get("negative_prompt") or ""),
            count=int(params["count"]),
            seed=int(params["seed"]),
            steps=int(params["steps"]),
            guidance_scale=float(params["guidance_scale"]),
            width=int(params["width"]),
            height=int(params["height"]),
            lora=lora,
            subject=subject,
            lora_scale=float(params.get("lora_scale", 1.0)),  # jobs queued before it existed
            second_lora=second_lora,
            second_subject=second_subject,
            strength=float(params.get("strength", 1.0)),
            tiled_vae=bool(params.get("tiled_vae", False)),
        )
