"""LoRA checkpoints on disk: loadable, carrying their config, pruned, read defensively."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.training import latest_checkpoint, train_lora
from tests.engine.training._runs import Run, generate, make_photos, make_request


@pytest.mark.slow
def test_checkpoint_holds_a_loadable_lora_and_the_resolved_config(
    four_steps: Run, tiny_model_dir: Path
) -> None:
    checkpoint = four_steps.request.job_dir / "checkpoints" / "step-000002"
    names = {path.name for path in checkpoint.iterdir()}
    weights = {"pytorch_lora_weights.safetensors", "pet_kohya.safetensors"}
    assert names == {*weights, "optimizer.pt", "rng.pt", "state.json"}
    state = json.loads((checkpoint / "state.json").read_text())
    assert state["step"] == 2 and state["config"]["learning_rate"] == 1e-3
    assert state["token"] == "sks" and state["class_noun"] == "cat"
    generate(tiny_model_dir, checkpoint)  # a user may pick this step as their model


@pytest.mark.slow
def test_old_checkpoints_are_pruned_and_a_damaged_newest_is_skipped(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    photos = make_photos(tmp_path / "photos")
    request = make_request(
        tmp_path,
        tiny_model_dir,
        photos,
        checkpoint_every=1,
        keep_checkpoints=2,
        validation_prompts=(),
    )
    train_lora(request)
    root = request.job_dir / "checkpoints"
    resumable = sorted(p.parent.name for p in root.glob("*/optimizer.pt"))
    assert resumable == ["step-000003", "step-000004"]
    # older steps stay choosable from their previews: LoRA weights kept, resume state gone
    choosable = sorted(p.parent.name for p in root.glob("*/pytorch_lora_weights.safetensors"))
    assert choosable == ["step-000001", "step-000002", "step-000003", "step-000004"]
    assert not (root / "step-000001" / "rng.pt").exists()

    weights = root / "step-000004" / "pytorch_lora_weights.safetensors"
    with weights.open("r+b") as file:
        file.truncate(weights.stat().st_size // 2)

    assert latest_checkpoint(request.job_dir) == root / "step-000003"
    (root / "step-000003" / "optimizer.pt").unlink()  # a stripped step is never resumed from
    assert latest_checkpoint(request.job_dir) is None
