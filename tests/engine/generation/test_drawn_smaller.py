"""A picture that runs out of GPU memory is drawn again the smaller way: the same picture,
the savers undone afterwards; out of memory once more, the job fails in words. The error is
injected (the CPU never runs out): the VAE's decode raises torch.OutOfMemoryError."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.generation.smaller import PictureOutOfMemory
from engine.process import Engine
from engine.store import Database, JobKind, JobState, jobs
from engine.training import train_lora
from engine.training.checkpoints import LORA_WEIGHTS
from engine.training.loop import TRAINING_ADAPTER
from engine.training.request import NullHooks
from tests.engine.generation._tiny_lora import as_a_training_leaves_it, assert_given_back, picture
from tests.engine.training._runs import make_photos, make_request

pytestmark = pytest.mark.usefixtures("one_thread")

PARAMS = {
    "prompt": "a photo of sks cat",
    "count": 2,  # seeds 11 and 12: the retry draws both again
    "seed": 11,
    "steps": 2,
    "guidance_scale": 5.0,
    "width": 64,
    "height": 64,
}
TWO = GenerateRequest.from_params(PARAMS, lora=None, subject=None)  # plain SDXL


def out_of_memory_in_decode(
    monkeypatch: pytest.MonkeyPatch, resident: ResidentPipeline, times: int
) -> list[bool]:
    """The VAE's decode raises OutOfMemoryError `times` times; returns, for every call,
    whether the VAE was tiled then."""
    vae = resident.pipeline.vae
    real, tiled, left = vae.decode, [], [times]

    def decode(*args, **kwargs):
        tiled.append(bool(vae.use_tiling))
        if left[0] > 0:
            left[0] -= 1
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(vae, "decode", decode)
    return tiled


def pixels(request: GenerateRequest, resident: ResidentPipeline) -> list[np.ndarray]:
    return [np.asarray(image, dtype=np.int16) for image in resident.generate(request).images]


def assert_same_pictures(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for image, wanted in zip(got, expected, strict=True):  # float noise: one level at most
        assert np.abs(image - wanted).max() <= 1


def test_a_picture_out_of_memory_once_is_drawn_again_the_same_and_untiled_afterwards(
    resident: ResidentPipeline, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    uninterrupted = pixels(TWO, resident)
    vae = resident.pipeline.vae
    vae.tile_sample_min_size = 32  # what a training's plan may leave behind: not used
    tiled = out_of_memory_in_decode(monkeypatch, resident, times=1)

    with caplog.at_level(logging.WARNING, logger="engine.generation.resident"):
        retried = pixels(TWO, resident)

    assert tiled == [False, True, True]  # image 0 whole, then both drawn again tiled
    assert_same_pictures(retried, uninterrupted)
    assert not vae.use_tiling and vae.tile_sample_min_size == 32
    assert "out of GPU memory drawing 2 picture(s) of 64x64 px; drawing again with" in caplog.text


def test_a_picture_out_of_memory_twice_fails_in_words_and_the_next_draws_whole(
    resident: ResidentPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    uninterrupted = pixels(TWO, resident)
    settings = resident.settings
    tiled = out_of_memory_in_decode(monkeypatch, resident, times=2)

    async def run() -> object:
        async with await Database.open(settings.database_path) as db:
            async with db.transaction() as tx:
                job_id = await jobs.enqueue_tx(tx, JobKind.GENERATE, owner_id=7, params=PARAMS)
            job = await jobs.claim_next(db, "gpu-0", 60)
            assert job is not None
            await Engine(settings, db, "gpu-0", resident).run_job(job)
            return await jobs.get(db, job_id)

    failed = asyncio.run(run())

    assert failed.state is JobState.FAILED  # type: ignore[attr-defined]
    assert failed.error == str(PictureOutOfMemory())  # type: ignore[attr-defined]
    assert "even in the smaller way; try a smaller aspect" in str(PictureOutOfMemory())
    assert_same_pictures(pixels(TWO, resident), uninterrupted)
    assert tiled == [False, True, False, False]  # the next picture: whole again


@dataclass
class TrainingState:
    """What a training keeps in the shared pipeline (what `_Borrowed` must give back)."""

    active: list[str]
    training: bool
    devices: list[torch.device]
    tiling: tuple[bool, int, int]
    trainable: list[tuple[torch.nn.Parameter, torch.Tensor]]  # each with its value then


def test_a_picture_out_of_memory_between_training_steps_leaves_the_training_untouched(
    resident: ResidentPipeline,
    tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = pixels(TWO, resident)
    photos = make_photos(tmp_path / "photos")
    unet = resident.pipeline.unet
    tiled = out_of_memory_in_decode(monkeypatch, resident, times=1)

    def training_state() -> TrainingState:
        vae = resident.pipeline.vae
        return TrainingState(
            active=list(unet.active_adapters()),
            training=unet.training,
            devices=[m.device for m in (resident.pipeline.text_encoder, vae)],
            tiling=(vae.use_tiling, vae.tile_sample_min_size, vae.tile_latent_min_size),
            trainable=[(p, p.detach().clone()) for p in unet.parameters() if p.requires_grad],
        )

    class DrawAtStepOne(NullHooks):
        step = 0
        images: list[np.ndarray] = []  # noqa: RUF012
        states: list[TrainingState] = []  # noqa: RUF012

        def on_progress(self, step: int, total: int, loss: float, seconds: float) -> None:
            self.step = step

        def between_steps(self) -> None:
            if self.step == 1 and not self.states:
                self.states.append(training_state())
                self.images = pixels(TWO, resident)
                self.states.append(training_state())

    hooks = DrawAtStepOne()
    request = make_request(
        tmp_path, tiny_model_dir, photos, steps=2, checkpoint_every=2, validation_prompts=()
    )
    with resident.training() as pipeline:
        result = train_lora(request, hooks, pipeline=pipeline)

    before, after = hooks.states
    assert before.active == [TRAINING_ADAPTER] and before.trainable  # a training's state
    assert (before.active, before.training) == (after.active, after.training)
    assert (before.devices, before.tiling) == (after.devices, after.tiling)
    assert [id(p) for p, _ in before.trainable] == [id(p) for p, _ in after.trainable]
    for (_, value), (_, now) in zip(before.trainable, after.trainable, strict=True):
        assert torch.equal(value, now)  # its LoRA's weights: not changed by the picture
    assert tiled == [False, True, True]
    assert_same_pictures(hooks.images, plain)
    assert (result.lora_dir / LORA_WEIGHTS).is_file()  # and the training went on to its end


def test_out_of_memory_bringing_the_encoders_back_still_gives_the_training_back(
    resident: ResidentPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    with resident.training() as pipeline:
        trainable = as_a_training_leaves_it(pipeline.unet)
        encoder = pipeline.text_encoder_2
        move, calls = encoder.to, []

        def full_once(*args: object, **kwargs: object) -> object:
            calls.append(args)
            if len(calls) == 1:  # the picture's move up; the move home works
                raise torch.OutOfMemoryError("CUDA out of memory")
            return move(*args, **kwargs)

        monkeypatch.setattr(encoder, "to", full_once)
        with pytest.raises(torch.OutOfMemoryError):
            resident.generate(picture(None))
        monkeypatch.undo()

        assert len(calls) == 2  # brought home again
        assert_given_back(pipeline.unet, trainable)
