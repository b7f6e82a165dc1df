"""A stop asked for in the middle of a picture takes effect within one denoising step."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from engine.generation.resident import ResidentPipeline
from engine.models.sampling import StopRequested
from tests.engine.generation._tiny_lora import picture, tiny_settings

pytestmark = pytest.mark.slow

STEPS = 60  # at 128 px each tiny-model step takes a tenth of a second or more: seconds in all


def test_a_stop_mid_picture_ends_it_within_a_step(tiny_model_dir: Path, tmp_path: Path) -> None:
    resident = ResidentPipeline(tiny_settings(tiny_model_dir, tmp_path))
    request = replace(picture(None), seed=3, steps=STEPS, width=128, height=128)
    resident.generate(replace(request, steps=1))  # loads the pipeline before timing
    asked = threading.Event()
    step_ends: list[float] = []

    def should_stop() -> bool:  # the pipeline asks after every denoising step
        step_ends.append(time.monotonic())
        return asked.is_set()

    outcome: dict[str, object] = {}

    def draw() -> None:
        try:
            resident.generate(request, should_stop=should_stop)
            outcome["result"] = "finished"
        except StopRequested:
            outcome["result"] = "stopped"
        outcome["at"] = time.monotonic()

    drawing = threading.Thread(target=draw)
    drawing.start()
    while len(step_ends) < 4:  # a few steps in, so step times are known
        time.sleep(0.01)
    time.sleep(0.5 * (step_ends[-1] - step_ends[-2]))  # mid-step
    stop_at = time.monotonic()
    asked.set()
    drawing.join(timeout=120)

    assert outcome["result"] == "stopped"
    steps_done = len(step_ends) - 1  # the first call is the check before drawing
    assert steps_done < STEPS // 2
    longest_step = max(b - a for a, b in pairwise(step_ends[1:]))
    latency = float(outcome["at"]) - stop_at  # type: ignore[arg-type]
    # The step under way finishes, then the partial latents are decoded once (tiny VAE).
    assert latency <= 2 * longest_step + 1.0, (latency, longest_step)
