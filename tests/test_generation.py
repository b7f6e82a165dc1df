"""/imagine's engine side on the tiny SDXL, on the CPU: the resident pipeline, hot-swapped
LoRAs, long prompts, and generation served in the middle of a training."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.generation.lora_slot import SLOT
from engine.generation.prompts import encode_long_prompt
from engine.generation.render import generation_scheduler, render_images
from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.models.loading import load_pipeline
from engine.settings import Settings
from engine.training import NullHooks, TrainRequest, train_lora
from engine.training.checkpoints import LORA_WEIGHTS
from tests.test_training import make_photos, make_request

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Two OpenMP threads on the contended 2-core test machines made tiny-model calls up to
    # 10x slower (the LoRA fixture: 7 s in one run, 75 s in the next); one thread is steady.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_settings(model: Path, tmp: Path, **generation: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp,
        base_model=str(model),
        vae="",
        device="cpu",
        generation={"resolution": 64, "steps": 2, "lora_slot_rank": 8, **generation},
    )


def order(
    prompt: str = "a photo of sks cat", lora: Path | None = None, **changes: object
) -> GenerateRequest:
    base = GenerateRequest(
        prompt=prompt,
        negative_prompt="",
        count=1,
        seed=11,
        steps=2,
        guidance_scale=5.0,
        width=64,
        height=64,
        lora=lora,
        subject=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def pixels(images: list) -> list[np.ndarray]:
    return [np.asarray(image, dtype=np.int16) for image in images]


def fresh_images(model: Path, lora: Path | None, wanted: GenerateRequest) -> list[np.ndarray]:
    """The reference: a newly loaded pipeline, the LoRA loaded the ordinary diffusers way."""
    pipeline = load_pipeline(str(model))
    if lora is not None:
        pipeline.load_lora_weights(lora)
    rendered = render_images(pipeline, generation_scheduler(pipeline), wanted, 3, CPU)
    return pixels(rendered.images)


@dataclass(frozen=True)
class Loras:
    first: Path
    second: Path
    first_request: TrainRequest


@pytest.fixture(scope="module")
def loras(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Loras:
    """Two 3-step LoRAs with different seeds (lr 1e-3, so they visibly differ)."""
    root = tmp_path_factory.mktemp("loras")
    made = []
    for seed in (1, 2):
        request = make_request(
            root / str(seed),
            tiny_model_dir,
            make_photos(root / "photos"),
            steps=3,
            checkpoint_every=3,
            seed=seed,
            validation_prompts=(),
        )
        made.append((request, train_lora(request).lora_dir))
    return Loras(made[0][1], made[1][1], made[0][0])


@pytest.fixture(scope="module")
def resident(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> ResidentPipeline:
    return ResidentPipeline(tiny_settings(tiny_model_dir, tmp_path_factory.mktemp("data")))


def test_same_seed_same_image_and_image_i_uses_seed_plus_i(resident: ResidentPipeline) -> None:
    two = pixels(resident.generate(order(count=2)).images)
    again = pixels(resident.generate(order(count=2)).images)
    next_seed = pixels(resident.generate(order(seed=12)).images)

    assert all(np.array_equal(a, b) for a, b in zip(two, again, strict=True))
    assert np.array_equal(two[1], next_seed[0])
    assert np.abs(two[0] - two[1]).max() > 10  # different seeds, different images
    assert all(image.std() > 5 for image in two)  # real pixels, not a blank or a constant
    assert two[0].shape == (64, 64, 3)


@pytest.mark.slow
def test_hot_swapped_loras_draw_what_a_freshly_loaded_pipeline_draws(
    resident: ResidentPipeline, loras: Loras, tiny_model_dir: Path
) -> None:
    drawn = {}
    for name, lora in [
        ("first", loras.first),
        ("second", loras.second),
        ("plain", None),
        ("first again", loras.first),
    ]:
        drawn[name] = pixels(resident.generate(order(lora=lora)).images)[0]

    assert np.array_equal(drawn["first"], fresh_images(tiny_model_dir, loras.first, order())[0])
    assert np.array_equal(drawn["second"], fresh_images(tiny_model_dir, loras.second, order())[0])
    assert np.array_equal(drawn["plain"], fresh_images(tiny_model_dir, None, order())[0])
    assert np.array_equal(drawn["first again"], drawn["first"])
    assert np.abs(drawn["first"] - drawn["second"]).max() > 0
    assert np.abs(drawn["first"] - drawn["plain"]).max() > 0
    assert resident.pipeline.unet.active_adapters() == [SLOT]
    assert not any(p.requires_grad for p in resident.pipeline.unet.parameters())


def test_a_short_prompt_is_encoded_exactly_as_sdxl_encodes_it(resident: ResidentPipeline) -> None:
    pipeline = resident.pipeline
    ours = encode_long_prompt(pipeline, "a photo of sks cat", "blurry", 3, CPU)
    embeds, negative, pooled, negative_pooled = pipeline.encode_prompt(
        "a photo of sks cat", device=CPU, negative_prompt="blurry"
    )
    assert ours.chunks == 1 and ours.truncated is None
    assert torch.equal(ours.embeds, embeds) and torch.equal(ours.pooled, pooled)
    assert torch.equal(ours.negative_embeds, negative)
    assert torch.equal(ours.negative_pooled, negative_pooled)


def test_a_long_prompt_is_chunked_and_an_overlong_one_reports_what_was_cut(
    resident: ResidentPipeline,
) -> None:
    pipeline = resident.pipeline
    long = (
        "a photo of sks cat sitting on a red velvet sofa next to a tall window "
        "in the late afternoon sun, oil painting"
    )
    tokens = pipeline.tokenizer(long, add_special_tokens=False, truncation=False).input_ids
    assert 77 < len(tokens) <= 150  # one token per byte in the tiny model: two chunks

    read = encode_long_prompt(pipeline, long, "", 3, CPU)
    assert read.chunks == 2 and read.truncated is None
    assert read.embeds.shape == (1, 154, 64) and read.negative_embeds.shape == (1, 154, 64)
    cut_short = encode_long_prompt(pipeline, long, "", 1, CPU)
    dropped = cut_short.truncated
    assert dropped is not None and long.endswith(dropped)
    kept = long[: -len(dropped)]
    assert not (kept[-1].isalpha() and dropped[0].isalpha())  # no word is cut in half
    assert cut_short.embeds.shape == (1, 77, 64)
    drawn = resident.generate(order(prompt=long))
    assert drawn.truncated is None and len(drawn.images) == 1


@pytest.mark.slow
def test_generation_between_training_steps_leaves_the_training_untouched(
    resident: ResidentPipeline, loras: Loras, tiny_model_dir: Path, tmp_path: Path
) -> None:
    request = replace(loras.first_request, job_dir=tmp_path / "alone")
    alone = train_lora(request)

    class GenerateAtStepTwo(NullHooks):
        step = 0
        images: list[np.ndarray] = []  # noqa: RUF012

        def on_progress(self, step: int, total: int, loss: float, seconds: float) -> None:
            self.step = step

        def between_steps(self) -> None:
            if self.step == 2:
                self.images = pixels(resident.generate(order(lora=loras.second)).images)

    hooks = GenerateAtStepTwo()
    shared = replace(request, job_dir=tmp_path / "shared")
    with resident.training() as pipeline:
        result = train_lora(shared, hooks, pipeline=pipeline)

    expected = load_file(alone.lora_dir / LORA_WEIGHTS)
    got = load_file(result.lora_dir / LORA_WEIGHTS)
    assert expected.keys() == got.keys()
    for key, tensor in expected.items():
        assert torch.allclose(tensor, got[key], rtol=0, atol=1e-7), key
    assert np.array_equal(hooks.images[0], fresh_images(tiny_model_dir, loras.second, order())[0])
    unet = resident.pipeline.unet
    assert set(unet.peft_config) == {SLOT}  # the training adapter is gone
    assert not unet.is_gradient_checkpointing and not unet.training
    assert resident.pipeline.text_encoder_2.device == CPU
