"""A preview is the picture /imagine draws with that step's LoRA: same scheduler, steps,
guidance, negative conditioning and seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.training import train_lora
from tests.engine.generation._tiny_lora import tiny_settings
from tests.engine.training._runs import make_request
from tests.samples import write_photos

pytestmark = pytest.mark.slow


def test_the_final_preview_is_what_imagine_draws_with_the_final_lora(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = tiny_settings(tiny_model_dir, tmp_path / "data", steps=3)
    photos = write_photos(tmp_path / "photos", 3)
    request = make_request(
        tmp_path,
        tiny_model_dir,
        photos,
        generation=settings.generation,
        steps=2,
        effective_batch=1,
        seed=5,
        preview_steps=None,  # drawn as /imagine draws: its step count
    )
    config = request.config
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
