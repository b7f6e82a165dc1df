"""The storage interface, and what every backend gets from its five verbs."""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from abc import ABC, abstractmethod
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path

from engine.storage.cache_files import (
    CachedFile,
    Trimmed,
    cached_files,
    last_use,
    remove_emptied_folders,
)

log = logging.getLogger(__name__)

# `fetch` marks a cached file used (its atime; `trim_cache` orders by `last_use`) at most
# this often: each mark is a metadata write. Far below any sensible keep window.
MARK_USE_EVERY_SECONDS = 600.0


class StorageError(RuntimeError):
    """A key that escapes the store, or a backend that refused an operation."""


def checked_key(key: str) -> str:
    """A key as the backends take it: relative, '/'-separated, no '..' or empty parts.
    Keys come from rows and events; a bad one must never reach outside the store."""
    parts = key.replace(os.sep, "/").split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"not a storage key: {key!r}")
    return "/".join(parts)


def checked_prefix(prefix: str) -> str:
    """A key prefix naming a folder ("jobs/12"), returned with its trailing '/'."""
    return checked_key(prefix.rstrip("/")) + "/"


class Storage(ABC):
    """put/get/exists/delete/list on keys, plus the local cache (`cache_dir`, the data dir)
    that engines and the bot read and write files through."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    @property
    def is_cache(self) -> bool:
        """Whether the store is the cache itself (the default data dir): nothing to trim,
        and publishing is a no-op."""
        return False

    @property
    @abstractmethod
    def describe(self) -> str:
        """Where the files are, for logs and `petbooth doctor`."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such key."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Delete these keys; keys that are not there are no error."""

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key under the folder `prefix` ("jobs/12"), sorted."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file to `key`."""

    @abstractmethod
    def get_file(self, key: str, path: Path) -> bool:
        """Download `key` to the local file `path` (atomically); False when there is none."""

    def share_link(self, key: str, lifetime: timedelta) -> str | None:
        """A URL that downloads `key` for `lifetime` without credentials, or None where
        the backend cannot make one (a folder: there is no server to link to)."""
        return None

    # What every backend gets from the verbs above.

    def cache_path(self, key: str) -> Path:
        return self.cache_dir / checked_key(key)

    def key_of(self, path: Path) -> str:
        """The key of a file or folder in the local cache: its data-relative path."""
        relative = path.resolve().relative_to(self.cache_dir.resolve())
        return checked_key(relative.as_posix())

    def publish(self, path: Path) -> str:
        """Upload a cached file, or every file of a cached folder, under its own key;
        returns the key. A no-op where the store is the cache itself."""
        key = self.key_of(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            for file in files:
                self.put_file(self.key_of(file), file)
        else:
            self.put_file(key, path)
        return key

    def fetch(self, key: str) -> Path | None:
        """The local copy of `key`, downloaded into the cache when it is not there yet;
        None when the store has no such key."""
        path = self.cache_path(key)
        if self._cached(path) or self.get_file(key, path):
            return path
        return None

    def _cached(self, path: Path) -> bool:
        """Whether `path` is a file in the cache, marked used (see MARK_USE_EVERY_SECONDS)."""
        try:
            found = path.stat()
            if not stat.S_ISREG(found.st_mode):
                return False
            if not self.is_cache and time.time() - last_use(found) > MARK_USE_EVERY_SECONDS:
                os.utime(path, ns=(time.time_ns(), found.st_mtime_ns))
        except FileNotFoundError:  # never cached, or trimmed a moment ago
            return False
        return True

    def forget_removed(self, prefix: str, names: tuple[str, ...]) -> None:
        """Delete the keys under `prefix` named one of `names` whose folder is in the local
        cache but whose file is not: what was pruned here goes from the store too."""
        gone = []
        for key in self.list_keys(prefix):
            path = self.cache_path(key)
            if path.name in names and path.parent.is_dir() and not path.exists():
                gone.append(key)
        self.delete(gone)

    def delete_folder(self, prefix: str) -> None:
        """Every key under `prefix` (or the key `prefix` itself), and their local copies."""
        key = checked_key(prefix.rstrip("/"))
        self.delete([*self.list_keys(key), key])
        remove_cached(self.cache_dir / key)

    def trim_cache(
        self,
        limit_bytes: int,
        *,
        keep_newer_than_seconds: float,
        spare: Collection[Path] = (),
    ) -> Trimmed:
        """Delete the least recently used cached files (by `last_use`, which `fetch` marks)
        until the cache holds at most `limit_bytes`. Never a file written or used in the
        last `keep_newer_than_seconds` (a running job's checkpoints, a picture about to be
        posted), one the store does not hold (a checkpoint not uploaded yet), one being
        written (".tmp-…") or one in `spare` (the database). A no-op where the store is the
        cache. Blocking: a walk of the cache, and a HEAD for each file deleted."""
        if self.is_cache:
            return Trimmed(files=0, bytes=0)
        root = self.cache_dir.resolve()
        files = cached_files(root, {p.resolve() for p in spare})
        excess = sum(f.size for f in files) - limit_bytes
        used_since = time.time() - keep_newer_than_seconds
        removed: list[CachedFile] = []
        for file in sorted(files, key=lambda f: f.used):
            if excess <= 0 or file.used > used_since:
                break
            if self._remove_stored_copy(root, file.path, used_since):
                removed.append(file)
                excess -= file.size
        remove_emptied_folders(root, {f.path.parent for f in removed})
        trimmed = Trimmed(files=len(removed), bytes=sum(f.size for f in removed))
        if removed:
            log.info(
                "trimmed the local cache %s: %d files, %.1f MB",
                root,
                trimmed.files,
                trimmed.bytes / 1e6,
            )
        return trimmed

    def _remove_stored_copy(self, root: Path, path: Path, used_since: float) -> bool:
        """Delete a cached file the store also holds, unless it was used since it was picked."""
        if not self.exists(path.relative_to(root).as_posix()):
            return False  # only here: not uploaded yet, or never meant to be
        try:
            if last_use(path.stat()) > used_since:
                return False  # fetched while the store was asked
            path.unlink()
        except FileNotFoundError:
            return False  # another process on this data dir trimmed it
        return True


def remove_cached(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    temporary.write_bytes(data)
    os.replace(temporary, path)
