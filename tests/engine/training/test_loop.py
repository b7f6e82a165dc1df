"""DreamBooth-LoRA training on the tiny SDXL, on the CPU: real diffusers, peft and files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from engine.training import latest_checkpoint, train_lora
from engine.training.request import TrainingInterrupted
from tests.engine.training._runs import (
    RecordingHooks,
    Run,
    generate,
    make_photos,
    make_request,
)


@pytest.mark.slow
def test_trained_lora_loads_into_a_fresh_pipeline_and_changes_its_images(
    four_steps: Run, tiny_model_dir: Path
) -> None:
    lora_dir = four_steps.result.lora_dir
    assert (lora_dir / "pytorch_lora_weights.safetensors").is_file()
    assert '"token": "sks"' in (lora_dir / "petbooth.json").read_text()
    assert four_steps.result.steps == 4 and four_steps.result.resumed_from is None

    plain = generate(tiny_model_dir)
    with_lora = generate(tiny_model_dir, lora_dir)

    assert np.abs(plain - with_lora).max() > 1e-4


@pytest.mark.slow
def test_hooks_see_every_step_checkpoint_and_preview(four_steps: Run) -> None:
    hooks = four_steps.hooks
    job_dir = four_steps.request.job_dir
    assert hooks.progress == [1, 2, 3, 4]
    assert hooks.between == 4
    assert hooks.checkpoints == [
        (2, job_dir / "checkpoints" / "step-000002"),
        (4, job_dir / "checkpoints" / "step-000004"),
    ]
    assert [step for step, _ in hooks.previews] == [2, 4]
    _, preview = hooks.previews[-1]
    assert preview == job_dir / "previews" / "step-000004.png"
    with Image.open(preview) as image:
        assert np.asarray(image.convert("RGB")).std() > 0


@pytest.mark.slow
def test_interrupted_run_resumes_to_exactly_the_uninterrupted_result(
    four_steps: Run, tiny_model_dir: Path, tmp_path: Path
) -> None:
    request = replace(four_steps.request, job_dir=tmp_path / "job")
    with pytest.raises(TrainingInterrupted) as stopped:
        train_lora(request, RecordingHooks(stop_after=2))
    assert stopped.value.step == 2
    assert latest_checkpoint(request.job_dir) == request.job_dir / "checkpoints" / "step-000002"

    hooks = RecordingHooks()
    result = train_lora(request, hooks)

    assert result.resumed_from == 2 and result.steps == 4
    assert hooks.progress == [3, 4]
    name = "pytorch_lora_weights.safetensors"
    expected = load_file(four_steps.result.lora_dir / name)
    resumed = load_file(result.lora_dir / name)
    assert expected.keys() == resumed.keys()
    for key, tensor in expected.items():
        assert torch.allclose(tensor, resumed[key], rtol=0, atol=1e-7), key


@pytest.mark.slow
def test_stop_between_checkpoints_saves_the_current_step(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    request = make_request(tmp_path, tiny_model_dir, make_photos(tmp_path / "photos"))
    hooks = RecordingHooks(stop_after=1)
    with pytest.raises(TrainingInterrupted):
        train_lora(request, hooks)
    assert hooks.checkpoints == [(1, request.job_dir / "checkpoints" / "step-000001")]
    assert latest_checkpoint(request.job_dir) == hooks.checkpoints[0][1]
