"""Vary and Upscale on the tiny SDXL: img2img from a delivered picture on the resident
pipeline, and the text-to-image path left as diffusers draws it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.generation.img2img import starting_latents, vae_tiled
from engine.generation.prompts import encode_long_prompt
from engine.generation.render import generation_scheduler
from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.models.loading import load_pipeline
from engine.orders.variations import VariationOf
from tests.engine.generation._tiny_lora import picture, pixels

pytestmark = pytest.mark.usefixtures("one_thread")

# 4 steps: subtle (0.35) redoes int(1.4) = 1 of them, strong (0.7) 2, upscale (0.3) 1.
STEPS = 4


@pytest.fixture(scope="module")
def source(resident: ResidentPipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A delivered 64 px picture, as the engine saved it."""
    path = tmp_path_factory.mktemp("outputs") / "image-0.png"
    [image] = resident.generate(replace(picture(None), steps=STEPS)).images
    image.save(path)
    return path


def redrawn(source: Path, strength: float, size: int = 64) -> GenerateRequest:
    return replace(
        picture(None),
        seed=99,  # a variation's new seed
        steps=STEPS,
        source_image=source,
        strength=strength,
        width=size,
        height=size,
        tiled_vae=size > 64,
    )


def test_text_to_image_draws_what_the_plain_diffusers_pipeline_draws(
    resident: ResidentPipeline, tiny_model_dir: Path
) -> None:
    pipeline = load_pipeline(str(tiny_model_dir))
    wanted = picture(None)
    prompt = encode_long_prompt(pipeline, wanted.prompt, "", 3, torch.device("cpu"))
    pipeline.scheduler = generation_scheduler(pipeline)
    expected = pipeline(
        prompt_embeds=prompt.embeds,
        pooled_prompt_embeds=prompt.pooled,
        negative_prompt_embeds=prompt.negative_embeds,
        negative_pooled_prompt_embeds=prompt.negative_pooled,
        width=64,
        height=64,
        num_inference_steps=wanted.steps,
        guidance_scale=wanted.guidance_scale,
        generator=torch.Generator().manual_seed(wanted.seed),
    ).images

    assert np.array_equal(pixels(resident.generate(wanted).images), pixels(expected))


def test_strong_variation_departs_further_from_the_picture_than_subtle(
    resident: ResidentPipeline, source: Path
) -> None:
    subtle = pixels(resident.generate(redrawn(source, 0.35)).images)
    strong = pixels(resident.generate(redrawn(source, 0.7)).images)

    # The tiny random VAE does not give the picture back, so changes are measured from what
    # it makes of it: the decoded latents img2img starts from (strength 0).
    pipeline = resident.pipeline
    start = starting_latents(pipeline, redrawn(source, 0.35))
    assert start is not None
    with torch.no_grad():
        decoded = pipeline.vae.decode(start / pipeline.vae.config.scaling_factor).sample
    kept = pixels(pipeline.image_processor.postprocess(decoded, output_type="pil"))
    subtle_change, strong_change = np.abs(subtle - kept).mean(), np.abs(strong - kept).mean()
    assert 0 < subtle_change < strong_change - 5  # measured: about 31 and 45 of 255
    assert np.abs(strong - subtle).mean() > 0


def test_upscale_doubles_the_size_and_leaves_the_vae_untiled(
    resident: ResidentPipeline, source: Path
) -> None:
    [upscaled] = resident.generate(redrawn(source, 0.3, size=128)).images

    assert upscaled.size == (128, 128)
    assert not resident.pipeline.vae.use_tiling  # as /imagine draws: whole


def test_an_upscale_tiles_at_the_vaes_own_size_whatever_a_training_left(
    resident: ResidentPipeline,
) -> None:
    vae = resident.pipeline.vae
    left = (vae.tile_sample_min_size, vae.tile_latent_min_size)
    vae.tile_sample_min_size, vae.tile_latent_min_size = 16, 2  # a small plan's, untiled now
    try:
        with vae_tiled(resident.pipeline, tiled=True):
            during = (vae.use_tiling, vae.tile_sample_min_size)
        after = (vae.use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size)
    finally:
        vae.tile_sample_min_size, vae.tile_latent_min_size = left

    assert during == (True, vae.config.sample_size)
    assert after == (False, 16, 2)


def test_a_variation_runs_the_steps_its_job_counts(
    resident: ResidentPipeline, source: Path
) -> None:
    asked = 0

    def should_stop() -> bool:  # asked once before the picture, then after every step
        nonlocal asked
        asked += 1
        return False

    resident.generate(redrawn(source, 0.7), should_stop=should_stop)

    variation = VariationOf("strong", 1, 1, "outputs/1/image-0.png", 0.7, 64, 64, False)
    assert asked - 1 == variation.steps_run(STEPS) == 2
