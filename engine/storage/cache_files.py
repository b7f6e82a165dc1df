"""The files of a local cache that `Storage.trim_cache` may delete, and the folders it
empties: kept apart from the storage interface, which only decides which files go."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Trimmed:
    """What one `trim_cache` deleted."""

    files: int
    bytes: int


@dataclass(frozen=True)
class CachedFile:
    path: Path
    size: int
    used: float  # `last_use`: written, downloaded, or last marked used by `fetch`


def last_use(info: os.stat_result) -> float:
    """When a cached file was last written (mtime) or marked used by `fetch` (atime: a
    mark leaves the mtime, which the engine's LoRA cache keys on, as it was)."""
    return max(info.st_mtime, info.st_atime)


def cached_files(root: Path, spare: set[Path]) -> list[CachedFile]:
    """Every file under `root` that may be trimmed: not a dot-name (".tmp-…" files being
    written), not a symlink, not in `spare`."""
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            path = Path(folder, name)
            if name.startswith(".") or path in spare:
                continue
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue  # deleted while we looked
            if stat.S_ISREG(info.st_mode):
                found.append(CachedFile(path, info.st_size, last_use(info)))
    return found


def remove_emptied_folders(root: Path, folders: set[Path]) -> None:
    """Remove each of `folders` and its parents below `root` that are now empty."""
    for folder in sorted(folders, key=lambda f: len(f.parts), reverse=True):
        while folder != root and root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (or already gone): nor are its parents
            folder = folder.parent
