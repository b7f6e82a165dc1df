"""The loss's randomness: a function of the seed and the step only, so a resume repeats it."""

from __future__ import annotations

import torch

from engine.training.objective import step_generator


def test_step_randomness_depends_only_on_seed_and_step() -> None:
    def draw(seed: int, step: int) -> torch.Tensor:
        return torch.randn(4, generator=step_generator(seed, step, 0))

    assert torch.equal(draw(0, 3), draw(0, 3))
    assert not torch.equal(draw(0, 3), draw(0, 4))
    assert not torch.equal(draw(0, 3), draw(1, 3))
