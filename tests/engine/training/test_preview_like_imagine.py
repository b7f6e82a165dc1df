"""A preview is the picture /imagine draws with that step's LoRA: same scheduler, steps,
guidance, negative conditioning and seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.settings import TrainingDefaults
from engine.training import TrainRequest, train_lora
from tests.engine.generation._tiny_lora import tiny_settings
from tests.samples import write_photos

pytestmark = pytest.mark.slow


def test_the_final_preview_is_what_imagine_draws_with_the_final_lora(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = TrainingDefaults(
        resolution=64,
        steps=2,
        checkpoint_every=2,
        effective_batch=1,
        learning_rate=1e-3,
        seed=5,
        validation_prompts=("a photo of {token} {cls}", "{token} {cls} on a skateboard"),
    )
    settings = tiny_settings(tiny_model_dir, tmp_path / "data", steps=3)
    request = TrainRequest(
        job_dir=tmp_path / "job",
        photo_paths=write_photos(tmp_path / "photos", 3),
        token="sks",
        class_noun="cat",
        config=config,
        base_model=str(tiny_model_dir),
        vae=None,
        device="cpu",
        priors_dir=tmp_path / "priors",
        generation=settings.generation,
    )
    lora = train_lora(request).lora_dir
    resident = ResidentPipeline(settings)

    for index, prompt in enumerate(request.validation_prompts()):
        drawn = resident.generate(
            GenerateRequest(
                prompt=prompt,
                negative_prompt="",
                count=1,
                seed=config.seed + index,
                steps=settings.generation.steps,
                guidance_scale=settings.generation.guidance_scale,
                width=64,
                height=64,
                lora=lora,
                subject=None,
            )
        ).images[0]
        with Image.open(tmp_path / "job" / "previews" / "step-000002" / f"{index}.png") as shown:
            preview = np.asarray(shown, dtype=np.int16)
        assert np.abs(preview - np.asarray(drawn, dtype=np.int16)).max() <= 1
