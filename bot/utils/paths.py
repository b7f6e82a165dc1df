"""Files the engine names (relative to the data dir) are resolved and kept inside it: a row
that says ``../../etc/passwd`` must never become an upload or a deletion."""

from __future__ import annotations

from pathlib import Path

from engine.orders.lora_files import LORA_WEIGHTS


def inside(root: Path, relative: str | Path) -> Path | None:
    """``root / relative`` resolved, or None when it escapes ``root`` (or is ``root``)."""
    base = root.resolve()
    path = (base / relative).resolve()
    if path == base or not path.is_relative_to(base):
        return None
    return path


def existing_file(root: Path, relative: str | Path) -> Path | None:
    path = inside(root, relative)
    return path if path is not None and path.is_file() else None


def lora_weights(root: Path, relative: str | Path) -> Path | None:
    """A LoRA given as its directory or as the .safetensors file itself."""
    path = inside(root, relative)
    if path is not None and path.is_dir():
        path = path / LORA_WEIGHTS
    return path if path is not None and path.is_file() else None
