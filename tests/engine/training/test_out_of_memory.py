"""A training step that runs out of GPU memory steps the plan down and goes on, within the
same attempt, to the LoRA an uninterrupted run with the smaller plan makes. The error is
injected (the CPU never runs out): `draw_batch` raises torch.OutOfMemoryError."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import engine.training.fit
import engine.training.loop
from engine.failures import describe_failure, is_expected_failure
from engine.process import Engine
from engine.settings import Settings
from engine.store import Database, JobKind, JobState, jobs, subjects
from engine.store.records import NewPhoto
from engine.training import train_lora
from engine.training.job import build_request
from engine.training.plan import TrainingPlan, plan_training
from engine.training.request import TrainingOutOfMemory, TrainResult
from tests.engine.training._runs import RecordingHooks, make_photos, make_request

LORA = "pytorch_lora_weights.safetensors"


def out_of_memory_at(monkeypatch: pytest.MonkeyPatch, step: int, times: int) -> list[int]:
    """The first micro-batch of `step` raises OutOfMemoryError, `times` times; returns the
    micro-batch sizes every call to `draw_batch` asked for."""
    real = engine.training.fit.draw_batch
    sizes: list[int] = []
    left = [times]

    def draw_batch(cache, seed: int, at: int, samples: Iterable[int], timesteps: int):
        samples = list(samples)
        sizes.append(len(samples))
        if at == step and samples[0] == 0 and left[0] > 0:
            left[0] -= 1
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return real(cache, seed, at, samples, timesteps)

    monkeypatch.setattr(engine.training.fit, "draw_batch", draw_batch)
    return sizes


def planned_4_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large GPU's split (4 samples a pass), here on the CPU; the encoders already parked,
    so the first step-down changes the split."""

    def plan(config, budget, cuda) -> TrainingPlan:
        planned = plan_training(config, budget, cuda)
        return replace(planned, micro_batch=4, encoders_resident=False)

    monkeypatch.setattr(engine.training.loop, "plan_training", plan)


async def claimed_training(db: Database, settings: Settings, photos: list[Path]) -> int:
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=7, name="thor", class_noun="cat")
        stored = [
            NewPhoto(settings.data_relative(p), p.name, str(i), p.stat().st_size, 96, 96)
            for i, p in enumerate(photos)
        ]
        await subjects.add_photos_tx(tx, pet.id, stored)
        return await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=7, subject_id=pet.id)


@pytest.mark.slow
def test_out_of_memory_steps_down_and_finishes_in_the_same_attempt(
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        base_model=str(tiny_model_dir),
        vae="",
        device="cpu",
        scoring={"enabled": False},
        training={
            "resolution": 64,
            "steps": 2,
            "checkpoint_every": 2,
            "learning_rate": 1e-3,
            "gradient_checkpointing": "off",
            "validation_prompts": [],
        },
    )
    planned_4_at_once(monkeypatch)
    sizes = out_of_memory_at(monkeypatch, step=1, times=1)

    async def run() -> tuple[object, object]:
        async with await Database.open(settings.database_path) as db:
            photos = make_photos(settings.data_dir / "photos")
            job_id = await claimed_training(db, settings, photos)
            job = await jobs.claim_next(db, "gpu-0", 60)
            assert job is not None and job.attempts == 1
            await Engine(settings, db, "gpu-0").run_job(job)
            return await jobs.get(db, job_id), await build_request(db, settings, job)

    with caplog.at_level(logging.WARNING, logger="engine.training.fit"):
        done, request = asyncio.run(run())

    assert done.state is JobState.SUCCEEDED and done.attempts == 1
    assert "out of memory at step 1; stepping down to 1 x 4 accumulated" in caplog.text
    assert sizes == [4, *[1] * 8]  # step 1 whole failed, then both steps one by one
    # The same job, uninterrupted, one sample a pass all along: the same LoRA.
    monkeypatch.undo()
    alone = replace(request, job_dir=tmp_path / "alone")
    alone = replace(alone, config=alone.config.model_copy(update={"micro_batch": 1}))
    expected = load_file(train_lora(alone).lora_dir / LORA)
    stepped = load_file(settings.job_dir(done.id) / "lora" / LORA)
    assert expected.keys() == stepped.keys()
    for key, weight in expected.items():  # the tolerance of test_effective_batch
        torch.testing.assert_close(stepped[key], weight, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_out_of_memory_with_the_smallest_plan_fails_the_job_in_words(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = make_request(
        tmp_path,
        tiny_model_dir,
        make_photos(tmp_path / "photos"),
        steps=1,
        effective_batch=1,
        validation_prompts=(),
    )
    out_of_memory_at(monkeypatch, step=1, times=99)

    with pytest.raises(TrainingOutOfMemory) as failed:
        train_lora(request)

    message = describe_failure(failed.value)
    assert is_expected_failure(failed.value)
    assert message.startswith("Training ran out of GPU memory") and "/train again" in message


@pytest.mark.slow
def test_a_step_out_of_memory_mid_run_goes_on_from_the_step_boundary(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = make_photos(tmp_path / "photos")
    config = {"steps": 2, "checkpoint_every": 2, "effective_batch": 2, "validation_prompts": ()}
    uninterrupted = train_lora(make_request(tmp_path, tiny_model_dir, photos, **config))
    sizes = out_of_memory_at(monkeypatch, step=2, times=1)
    hooks = RecordingHooks()

    # The CPU's plan keeps the encoders resident: the step-down parks them, the split stays.
    result = train_lora(make_request(tmp_path, tiny_model_dir, photos, job="oom", **config), hooks)

    assert sizes == [1, 1, 1, 1, 1] and hooks.progress == [1, 2]  # step 2's first pass twice
    expected = load_file(uninterrupted.lora_dir / LORA)
    stepped = load_file(result.lora_dir / LORA)
    for key, weight in expected.items():  # the exact-resume tolerance of test_loop
        assert torch.allclose(stepped[key], weight, rtol=0, atol=1e-7), key


def out_of_memory_in_previews(monkeypatch: pytest.MonkeyPatch, times: int) -> list[bool]:
    """`render_preview` raises OutOfMemoryError `times` times; returns, for every call,
    whether the VAE was tiled then."""
    real = engine.training.fit.render_preview
    tiled: list[bool] = []
    left = [times]

    def render_preview(pipeline, *args, **kwargs):
        tiled.append(bool(pipeline.vae.use_tiling))
        if left[0] > 0:
            left[0] -= 1
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return real(pipeline, *args, **kwargs)

    monkeypatch.setattr(engine.training.fit, "render_preview", render_preview)
    return tiled


def train_with_previews_out_of_memory(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch, times: int
) -> tuple[TrainResult, RecordingHooks, list[bool]]:
    """A 4-step training, previews at steps 2 and 4, the first `times` drawings out of memory."""
    photos = make_photos(tmp_path / "photos")
    tiled = out_of_memory_in_previews(monkeypatch, times=times)
    hooks = RecordingHooks()
    return train_lora(make_request(tmp_path, model, photos), hooks), hooks, tiled


def test_a_preview_out_of_memory_is_drawn_again_tiled_and_the_training_goes_on(
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        result, hooks, tiled = train_with_previews_out_of_memory(
            tmp_path, tiny_model_dir, monkeypatch, times=1
        )

    assert tiled == [False, True, True]  # step 2 twice (then tiled), step 4 tiled
    assert [step for step, _ in hooks.previews] == [2, 4]
    assert "VAE tiled and encoders parked" in caplog.text
    assert (result.lora_dir / LORA).is_file() and result.steps == 4


def test_a_preview_out_of_memory_twice_is_skipped_and_the_training_goes_on(
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        result, hooks, _ = train_with_previews_out_of_memory(
            tmp_path, tiny_model_dir, monkeypatch, times=2
        )

    assert [step for step, _ in hooks.previews] == [4]  # step 2 went without one
    assert [step for step, _ in hooks.checkpoints] == [2, 4]
    assert "no preview at step 2: out of GPU memory" in caplog.text
    assert (result.lora_dir / LORA).is_file()


def test_out_of_memory_after_the_passes_drops_their_gradients_before_the_step_is_retaken(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clipping (or the optimizer's first state) runs out after every pass of step 2 has
    accumulated its gradients: the retaken step must not add to them."""
    photos = make_photos(tmp_path / "photos")
    config = {"steps": 2, "checkpoint_every": 2, "effective_batch": 2, "validation_prompts": ()}
    uninterrupted = train_lora(make_request(tmp_path, tiny_model_dir, photos, **config))
    real, calls = torch.nn.utils.clip_grad_norm_, [0]

    def clip_grad_norm_(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 2:  # step 2's first try
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip_grad_norm_)
    result = train_lora(make_request(tmp_path, tiny_model_dir, photos, job="oom", **config))

    assert calls[0] == 3
    expected = load_file(uninterrupted.lora_dir / LORA)
    retaken = load_file(result.lora_dir / LORA)
    for key, weight in expected.items():  # the exact-resume tolerance of test_loop
        assert torch.allclose(retaken[key], weight, rtol=0, atol=1e-7), key
