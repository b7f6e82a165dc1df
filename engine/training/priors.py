"""Class images for prior preservation: generated once per (base model, class, bucket).

Generating 100 SDXL images costs several GPU minutes, so every later subject of the same
class reuses them, and only a shortfall (a job asking for more) is generated. They are drawn
at the instance photos' buckets (a class sample shares its instance sample's micro-batch,
so its shape) and exactly as /imagine draws, so they show the base model's idea of the
class as a user would see it. Pictures waiting meanwhile are served between two class
images (`between_images`), as between training steps: the first class of a big set takes
minutes, which a one-picture /imagine must not wait out. Each class image is drawn with the
UNet's adapters off, so a pet's LoRA swapped in for such a picture never reaches the class.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from PIL import Image

from engine.intake import Bucket
from engine.models.sampling import Conditioning, draw_image, never

log = logging.getLogger(__name__)


def class_images_dir(
    priors_dir: Path, base_model: str, class_noun: str, bucket: Bucket, steps: int, guidance: float
) -> Path:
    """One folder per way of drawing them: another bucket or sampler means other images."""
    about = f"{base_model}|{class_noun}|{bucket.width}x{bucket.height}|{steps}|{guidance}"
    return priors_dir / hashlib.sha256(about.encode()).hexdigest()[:16]


def ensure_class_images(
    pipeline: StableDiffusionXLPipeline,
    scheduler: DPMSolverMultistepScheduler,
    directory: Path,
    class_noun: str,
    prompt: Conditioning,
    count: int,
    bucket: Bucket,
    steps: int,
    guidance: float,
    should_stop: Callable[[], bool] = never,
    between_images: Callable[[], None] = lambda: None,
) -> list[Path]:
    """Paths of `count` class images in `directory`, generating the missing ones.

    Image i is always drawn with seed i, so the set does not depend on which job made it,
    nor on the pictures served in between: the base model's idea of the class.
    """
    directory.mkdir(parents=True, exist_ok=True)
    _describe(directory, class_noun, bucket)
    paths = [directory / f"class-{index:04d}.png" for index in range(count)]
    missing = [index for index, path in enumerate(paths) if not path.is_file()]
    if missing:
        log.info("Generating %d class images of %r in %s", len(missing), class_noun, directory)
    for index in missing:
        with _base_model(pipeline):
            image = draw_image(
                pipeline,
                scheduler,
                prompt,
                width=bucket.width,
                height=bucket.height,
                steps=steps,
                guidance_scale=guidance,
                seed=index,
                should_stop=should_stop,
            )
        _write_atomically(image, paths[index])
        between_images()
    return paths


@contextmanager
def _base_model(pipeline: StableDiffusionXLPipeline) -> Iterator[None]:
    """The UNet without its adapters (the resident pipeline's slots, whatever they hold)."""
    unet = pipeline.unet
    if not getattr(unet, "peft_config", None):
        yield  # a pipeline of its own, with no adapter yet
        return
    unet.disable_adapters()
    try:
        yield
    finally:
        unet.enable_adapters()
        unet.requires_grad_(False)  # enabling marks adapter weights trainable; none train yet


def _write_atomically(image: Image.Image, path: Path) -> None:
    # Two engines may fill the same class at once, and a kill must not leave half a PNG.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    image.save(temporary, format="PNG")
    os.replace(temporary, path)


def _describe(directory: Path, class_noun: str, bucket: Bucket) -> None:
    # The directory name is a hash; this says to a person what is inside.
    about = directory / "about.json"
    if not about.exists():
        size = {"width": bucket.width, "height": bucket.height}
        about.write_text(json.dumps({"class_noun": class_noun, **size}))
