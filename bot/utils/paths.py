"""Files the engine names (storage keys: paths relative to the data dir) are kept inside it:
a row that says ``../../etc/passwd`` must never become an upload or a deletion."""

from __future__ import annotations

from pathlib import Path

from engine.orders.lora_files import LORA_WEIGHTS
from engine.storage import Storage, StorageError


def inside(root: Path, relative: str | Path) -> Path | None:
    """``root / relative`` resolved, or None when it escapes ``root`` (or is ``root``)."""
    base = root.resolve()
    path = (base / relative).resolve()
    if path == base or not path.is_relative_to(base):
        return None
    return path


def fetched_file(storage: Storage, relative: str | Path) -> Path | None:
    """The local copy of a stored file (downloaded into the cache when only storage has
    it), or None when it is not stored or its name would escape the data dir. Blocking:
    call it on a thread."""
    if inside(storage.cache_dir, relative) is None:
        return None
    try:
        return storage.fetch(Path(relative).as_posix())
    except StorageError:
        return None


def fetched_lora_weights(storage: Storage, relative: str | Path) -> Path | None:
    """A LoRA given as its directory or as the .safetensors file itself, fetched from
    storage; None when it is not stored or escapes the data dir. Blocking."""
    if inside(storage.cache_dir, relative) is None:
        return None
    key = Path(relative).as_posix()
    found = None if key.endswith(".safetensors") else fetched_file(storage, f"{key}/{LORA_WEIGHTS}")
    return found or fetched_file(storage, key)
