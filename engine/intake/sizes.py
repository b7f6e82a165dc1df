"""Byte counts written for people."""

from __future__ import annotations

_MEGABYTE = 1024 * 1024


def megabytes(size_bytes: int) -> str:
    """ "31.2 MB", "25 MB": one decimal, none when it would be ".0"."""
    text = f"{size_bytes / _MEGABYTE:.1f}"
    return f"{text.removesuffix('.0')} MB"


def sizes_apart(size_bytes: int, limit_bytes: int) -> tuple[str, str]:
    """A size and its limit written so they never read the same: KB under a megabyte, and
    to the byte where rounding would print one number twice ("25 MB, limit 25 MB")."""
    if limit_bytes < _MEGABYTE:
        shown = f"{-(-size_bytes // 1024)} KB", f"{limit_bytes // 1024} KB"
    else:
        shown = megabytes(size_bytes), megabytes(limit_bytes)
    if shown[0] == shown[1]:
        shown = f"{size_bytes:,} bytes", f"{limit_bytes:,} bytes"
    return shown
