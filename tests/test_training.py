"""DreamBooth-LoRA training on the tiny SDXL, on the CPU: real diffusers, peft and files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from engine.models.loading import load_pipeline
from engine.settings import TrainingDefaults
from engine.training import (
    InvalidTrainRequest,
    NullHooks,
    TrainingInterrupted,
    TrainRequest,
    TrainResult,
    latest_checkpoint,
    train_lora,
)
from engine.training.objective import step_generator
from engine.training.precision import resolve_precision


def make_photos(directory: Path, count: int = 3, seed: int = 0) -> list[Path]:
    """Distinct 96 px JPEGs: a colour gradient plus noise, different per photo."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 255, 96)
    paths = []
    for index in range(count):
        base = np.stack([*np.meshgrid(ramp, ramp[::-1]), np.full((96, 96), 40.0 * index)], -1)
        pixels = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
        path = directory / f"photo-{index}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def make_request(root: Path, model: Path, photos: list[Path], **config: object) -> TrainRequest:
    settings = {
        "resolution": 64,
        "steps": 4,
        "checkpoint_every": 2,
        "learning_rate": 1e-3,  # large, so 4 steps change the images visibly
        "preview_steps": 2,
        "validation_prompts": ("a photo of {token} {cls}", "{token} {cls} on a skateboard"),
        **config,
    }
    return TrainRequest(
        job_dir=root / "job",
        photo_paths=photos,
        token="sks",
        class_noun="cat",
        config=TrainingDefaults.model_validate(settings),
        base_model=str(model),
        vae=None,
        device="cpu",
        priors_dir=root / "priors",
    )


@dataclass
class RecordingHooks(NullHooks):
    stop_after: int | None = None
    progress: list[int] = field(default_factory=list)
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    previews: list[tuple[int, Path]] = field(default_factory=list)
    between: int = 0

    def on_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        assert np.isfinite(loss) and seconds_per_step > 0
        self.progress.append(step)

    def between_steps(self) -> None:
        self.between += 1

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.checkpoints.append((step, path))

    def on_preview(self, step: int, image_path: Path) -> None:
        self.previews.append((step, image_path))

    def should_stop(self) -> bool:
        return self.stop_after is not None and self.progress[-1] >= self.stop_after


@dataclass
class Run:
    request: TrainRequest
    hooks: RecordingHooks
    result: TrainResult


@pytest.fixture(scope="module")
def four_steps(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One uninterrupted 4-step run, shared by the tests that only look at its outputs."""
    root = tmp_path_factory.mktemp("four-steps")
    request = make_request(root, tiny_model_dir, make_photos(root / "photos"))
    hooks = RecordingHooks()
    return Run(request, hooks, train_lora(request, hooks))


def generate(model: Path, lora_dir: Path | None = None) -> np.ndarray:
    pipeline = load_pipeline(str(model))
    if lora_dir is not None:
        pipeline.load_lora_weights(lora_dir)
    generator = torch.Generator().manual_seed(7)
    output = pipeline(
        "a photo of sks cat", num_inference_steps=2, generator=generator, output_type="np"
    )
    return np.asarray(output.images[0])


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
def test_checkpoint_holds_a_loadable_lora_and_the_resolved_config(
    four_steps: Run, tiny_model_dir: Path
) -> None:
    checkpoint = four_steps.request.job_dir / "checkpoints" / "step-000002"
    names = {path.name for path in checkpoint.iterdir()}
    assert names == {"pytorch_lora_weights.safetensors", "optimizer.pt", "rng.pt", "state.json"}
    state = json.loads((checkpoint / "state.json").read_text())
    assert state["step"] == 2 and state["config"]["learning_rate"] == 1e-3
    assert state["token"] == "sks" and state["class_noun"] == "cat"
    generate(tiny_model_dir, checkpoint)  # a user may pick this step as their model


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


@pytest.mark.slow
def test_class_images_are_generated_once_and_shared_by_the_class(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = {"steps": 1, "prior_preservation": True, "num_class_images": 2}
    first = make_request(tmp_path / "a", tiny_model_dir, make_photos(tmp_path / "pa"), **config)
    first = replace(first, priors_dir=tmp_path / "priors")
    train_lora(first)
    generated = sorted((tmp_path / "priors").glob("*/class-*.png"))
    assert [path.name for path in generated] == ["class-0000.png", "class-0001.png"]
    made_at = {path: path.stat().st_mtime_ns for path in generated}

    second = make_request(
        tmp_path / "b", tiny_model_dir, make_photos(tmp_path / "pb", seed=1), **config
    )
    second = replace(second, priors_dir=tmp_path / "priors")
    result = train_lora(second)

    assert {path: path.stat().st_mtime_ns for path in generated} == made_at
    assert sorted((tmp_path / "priors").glob("*/class-*.png")) == generated
    assert np.isfinite(result.final_loss)

    third = replace(second, job_dir=tmp_path / "c" / "job")
    train_lora(replace(third, config=third.config.model_copy(update={"num_class_images": 3})))
    now = sorted((tmp_path / "priors").glob("*/class-*.png"))
    assert [path.name for path in now][-1] == "class-0002.png"
    assert {path: path.stat().st_mtime_ns for path in generated} == made_at  # only the shortfall


def test_every_problem_with_a_request_is_reported_at_once(tmp_path: Path) -> None:
    request = make_request(
        tmp_path,
        tmp_path / "no-model",
        [tmp_path / "missing.jpg"],
        validation_prompts=("a photo of {name}",),
    )
    request = replace(request, token="two words")
    with pytest.raises(InvalidTrainRequest) as raised:
        train_lora(request)
    assert len(raised.value.problems) == 3


def test_step_randomness_depends_only_on_seed_and_step() -> None:
    def draw(seed: int, step: int) -> torch.Tensor:
        return torch.randn(4, generator=step_generator(seed, step, 0))

    assert torch.equal(draw(0, 3), draw(0, 3))
    assert not torch.equal(draw(0, 3), draw(0, 4))
    assert not torch.equal(draw(0, 3), draw(1, 3))


def test_auto_precision_on_the_cpu_is_plain_fp32() -> None:
    precision = resolve_precision(TrainingDefaults(), torch.device("cpu"))
    assert precision.weight_dtype == torch.float32 and precision.autocast is None
    assert not precision.gradient_checkpointing and not precision.use_8bit_adam
    with pytest.raises(ValueError, match=r"mixed_precision=bf16.*use_8bit_adam=on"):
        resolve_precision(
            TrainingDefaults(mixed_precision="bf16", use_8bit_adam="on"), torch.device("cpu")
        )
