"""The optimizer step under fp16 loss scaling, out of memory after the unscale: the retried
step, on fresh gradients, is the step an uninterrupted run takes (not "unscale_() has
already been called"). The error is injected; the CPU never runs out."""

from __future__ import annotations

import pytest
import torch

import engine.training.fit
from engine.training.fit import clipped_step


def step_once(fail_in_clipping: bool, monkeypatch: pytest.MonkeyPatch) -> torch.Tensor:
    """One AdamW step of a small model with the fp16 scaler on; with `fail_in_clipping`,
    the first clipping raises OutOfMemoryError and the step is retried as the loop does
    (gradients dropped, the backward pass run again)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    parameters = list(model.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=True)
    inputs = torch.randn(3, 4)
    real_clip = torch.nn.utils.clip_grad_norm_
    failures = [fail_in_clipping]

    def clip(*args, **kwargs):
        if failures and failures.pop():
            raise torch.OutOfMemoryError("injected: CUDA out of memory")
        return real_clip(*args, **kwargs)

    monkeypatch.setattr(engine.training.fit.torch.nn.utils, "clip_grad_norm_", clip)
    for _ in range(2 if fail_in_clipping else 1):
        scaler.scale(model(inputs).square().mean()).backward()
        try:
            clipped_step(scaler, optimizer, parameters, max_grad_norm=1.0)
        except torch.OutOfMemoryError:
            optimizer.zero_grad(set_to_none=True)
    monkeypatch.undo()
    assert scaler.get_scale() == 2.0**16  # the initial scale: the retry did not move it
    return model.weight.detach().clone()


def test_a_step_out_of_memory_after_the_unscale_is_retried_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    retried = step_once(fail_in_clipping=True, monkeypatch=monkeypatch)
    uninterrupted = step_once(fail_in_clipping=False, monkeypatch=monkeypatch)
    torch.testing.assert_close(retried, uninterrupted)
