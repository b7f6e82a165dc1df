"""Byte counts written for people."""

from __future__ import annotations

_MEGABYTE = 1024 * 1024


def megabytes(size_bytes: int) -> str:
    """ "31.2 MB", "25 MB": one decimal, none when it would be ".0"."""
    text = f"{size_bytes / _MEGABYTE:.1f}"
    return f"{text.removesuffix('.0')} MB"
