"""Files in a local directory: by default the data dir itself, the cache and the store in
one (what petbooth did before storage was configurable: nothing is copied)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.storage.base import (
    Storage,
    checked_key,
    checked_prefix,
    remove_cached,
    write_atomically,
)


class LocalStorage(Storage):
    def __init__(self, root: Path, cache_dir: Path | None = None) -> None:
        super().__init__(cache_dir if cache_dir is not None else root)
        self.root = root

    @property
    def describe(self) -> str:
        return str(self.root)

    @property
    def is_cache(self) -> bool:
        return self.root.resolve() == self.cache_dir.resolve()

    def _path(self, key: str) -> Path:
        return self.root / checked_key(key)

    def put(self, key: str, data: bytes) -> None:
        write_atomically(self._path(key), data)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str) -> list[str]:
        folder = self.root / checked_prefix(prefix)
        if not folder.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        # Dot-names are files being written (".tmp-…"): not stored until they are renamed.
        return sorted(k for k in keys if not any(part.startswith(".") for part in k.split("/")))

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        if target.resolve() == path.resolve():
            return  # the store is the cache: the file is already where it belongs
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".tmp-{target.name}-{os.getpid()}")
        shutil.copyfile(path, temporary)
        os.replace(temporary, target)

    def get_file(self, key: str, path: Path) -> bool:
        source = self._path(key)
        if not source.is_file():
            return False
        if source.resolve() != path.resolve():
            data = source.read_bytes()
            write_atomically(path, data)
        return True

    def delete_folder(self, prefix: str) -> None:
        remove_cached(self.root / checked_key(prefix.rstrip("/")))
        if not self.is_cache:
            super().delete_folder(prefix)
