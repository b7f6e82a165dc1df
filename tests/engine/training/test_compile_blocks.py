"""`training.compile_blocks`: the UNet's transformer blocks are compiled (regional
compilation) and train the LoRA an eager UNet trains. Dynamo traces for real; the graphs run
on its "eager" backend, so the CPU test pays no C++ compiling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import engine.training.loop
from engine.models.loading import load_pipeline
from engine.training import train_lora
from tests.engine.training._runs import make_photos, make_request

LORA = "pytorch_lora_weights.safetensors"


@pytest.mark.slow
def test_compiled_blocks_train_the_lora_the_eager_unet_trains(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine.training.loop, "COMPILE_OPTIONS", {"backend": "eager"})
    photos = make_photos(tmp_path / "photos")
    config = {"steps": 2, "checkpoint_every": 2, "validation_prompts": ()}
    eager = train_lora(make_request(tmp_path, tiny_model_dir, photos, job="eager", **config))
    pipeline = load_pipeline(str(tiny_model_dir), None, dtype=torch.float32, device="cpu")
    torch._dynamo.reset()

    request = make_request(
        tmp_path, tiny_model_dir, photos, job="compiled", compile_blocks=True, **config
    )
    compiled = train_lora(request, pipeline=pipeline)

    blocks = [m for m in pipeline.unet.modules() if type(m).__name__ == "BasicTransformerBlock"]
    assert blocks and all(b._compiled_call_impl is not None for b in blocks)
    expected, got = load_file(eager.lora_dir / LORA), load_file(compiled.lora_dir / LORA)
    for key, weight in expected.items():
        assert torch.allclose(got[key], weight, rtol=1e-4, atol=1e-6), key
