"""A failed job's message for its owner."""

from __future__ import annotations

import errno

from engine.failures import describe_failure, is_expected_failure
from engine.store import JobKind


def test_disk_full_and_unexpected_errors_are_described() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert "out of disk space" in describe_failure(full) and is_expected_failure(full)
    odd = ZeroDivisionError("x")
    assert "unexpectedly (ZeroDivisionError)" in describe_failure(odd)
    assert not is_expected_failure(odd)


def test_running_out_of_gpu_memory_outside_a_step_is_described() -> None:
    import torch

    drawing = describe_failure(torch.OutOfMemoryError("CUDA out of memory"), JobKind.GENERATE)
    assert drawing.startswith("Drawing the picture ran out of GPU memory") and "/imagine" in drawing
