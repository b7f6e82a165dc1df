"""What the engine hands to `train_lora`: every problem with it reported at once."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.training import train_lora
from engine.training.request import InvalidTrainRequest
from tests.engine.training._runs import make_request


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
