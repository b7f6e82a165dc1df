"""A job's peak memory, for the engine's "job finished" line: CUDA's max allocated on a
CUDA device (what decides whether a job fits a card), else the process's max RSS."""

from __future__ import annotations

import resource
import sys

import torch

from engine.models.loading import resolve_device


def reset_peak_memory(device_setting: str) -> None:
    """Start counting the CUDA peak afresh (one job each); nothing to do on the CPU, where
    the max RSS cannot be reset."""
    device = resolve_device(device_setting)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device_setting: str) -> str:
    """ "peak 7.41 GiB CUDA allocated" or "peak 1.93 GiB process RSS"."""
    device = resolve_device(device_setting)
    if device.type == "cuda":
        allocated = torch.cuda.max_memory_allocated(device)
        return f"peak {allocated / 2**30:.2f} GiB CUDA allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_bytes = rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB
    return f"peak {rss_bytes / 2**30:.2f} GiB process RSS"
