"""With `generation.compile`, an engine's warm-up draws one throwaway picture the way a pet's
is drawn, so the first pet picture compiles nothing (dynamo's "eager" backend here: the
same graphs and guards as the real compile, in a fraction of the time)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from engine.generation.resident import ResidentPipeline
from tests.engine.generation._tiny_lora import picture, tiny_settings

pytestmark = pytest.mark.usefixtures("one_thread")


def graphs() -> int:
    return int(counters["stats"]["unique_graphs"])


@pytest.mark.parametrize("fused", [False, True], ids=["beside", "fused"])
def test_a_warm_engine_compiles_nothing_for_its_first_pet_picture(
    tiny_model_dir: Path,
    tmp_path: Path,
    pets: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    fused: bool,
) -> None:
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    torch._dynamo.reset()
    settings = tiny_settings(
        tiny_model_dir, tmp_path / "data", lora_slot_rank=8, compile=True, fuse_lora=fused
    )
    resident = ResidentPipeline(settings)
    before = graphs()

    resident.warm_up()
    warm = graphs()
    resident.generate(picture(pets[0]))

    assert warm > before  # the warm-up compiled
    assert graphs() == warm  # and the pet's picture found its graph
