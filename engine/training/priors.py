"""Class images for prior preservation: generated once per (base model, class, resolution).

Generating 100 SDXL images costs several GPU minutes, so every later subject of the same
class reuses them, and only a shortfall (a job asking for more) is generated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from PIL import Image

log = logging.getLogger(__name__)

_BATCH = 4  # images per pipeline call: four 1024 px SDXL samples fit a 24 GB card


def class_images_dir(priors_dir: Path, base_model: str, class_noun: str, resolution: int) -> Path:
    key = hashlib.sha256(f"{base_model}|{class_noun}|{resolution}".encode()).hexdigest()[:16]
    return priors_dir / key


def ensure_class_images(
    pipeline: StableDiffusionXLPipeline,
    directory: Path,
    class_noun: str,
    count: int,
    resolution: int,
    inference_steps: int,
) -> list[Path]:
    """Paths of `count` class images in `directory`, generating the missing ones.

    Image i is always drawn with seed i, so the set does not depend on which job made it.
    Call with the LoRA absent or disabled: these are the base model's idea of the class.
    """
    directory.mkdir(parents=True, exist_ok=True)
    _describe(directory, class_noun, resolution)
    paths = [directory / f"class-{index:04d}.png" for index in range(count)]
    missing = [index for index, path in enumerate(paths) if not path.is_file()]
    if missing:
        log.info("Generating %d class images of %r in %s", len(missing), class_noun, directory)
    for start in range(0, len(missing), _BATCH):
        batch = missing[start : start + _BATCH]
        with torch.no_grad():
            images = pipeline(
                prompt=[f"a photo of {class_noun}"] * len(batch),
                height=resolution,
                width=resolution,
                num_inference_steps=inference_steps,
                generator=[torch.Generator().manual_seed(index) for index in batch],
            ).images
        for index, image in zip(batch, images, strict=True):
            _write_atomically(image, paths[index])
    return paths


def _write_atomically(image: Image.Image, path: Path) -> None:
    # Two engines may fill the same class at once, and a kill must not leave half a PNG.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    image.save(temporary, format="PNG")
    os.replace(temporary, path)


def _describe(directory: Path, class_noun: str, resolution: int) -> None:
    # The directory name is a hash; this says to a person what is inside.
    about = directory / "about.json"
    if not about.exists():
        about.write_text(json.dumps({"class_noun": class_noun, "resolution": resolution}))
