"""Files in an object store (S3 and S3-compatible stores, GCS, Azure) through obstore: one
Rust client for all of them, sync and async, with no boto stack in the bot's slim image."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import NotFoundError

from engine.storage.base import Storage, checked_key, checked_prefix

if TYPE_CHECKING:
    from obstore.store import ObjectStore

log = logging.getLogger(__name__)

# Files larger than this upload in parts (S3's multipart minimum part is 5 MiB); a rank-4
# checkpoint's files are a few MB, a full-rank optimizer state hundreds.
_CHUNK_BYTES = 8 * 1024 * 1024


class ObjectStorage(Storage):
    def __init__(self, store: ObjectStore, cache_dir: Path, describe: str) -> None:
        super().__init__(cache_dir)
        self.store = store
        self._describe = describe

    @property
    def describe(self) -> str:
        return self._describe

    def put(self, key: str, data: bytes) -> None:
        obstore.put(self.store, checked_key(key), data)

    def get(self, key: str) -> bytes | None:
        try:
            return bytes(obstore.get(self.store, checked_key(key)).bytes())
        except (NotFoundError, FileNotFoundError):
            return None

    def exists(self, key: str) -> bool:
        try:
            obstore.head(self.store, checked_key(key))
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    def delete(self, keys: list[str]) -> None:
        if keys:
            obstore.delete(self.store, [checked_key(k) for k in keys])

    def share_link(self, key: str, lifetime: timedelta) -> str | None:
        """A presigned GET URL (S3, GCS, Azure); None from a store that cannot sign."""
        from obstore.store import AzureStore, GCSStore, S3Store

        if not isinstance(self.store, AzureStore | GCSStore | S3Store):
            return None  # memory://, file://, http(s)://: nothing to sign with
        try:
            return obstore.sign(self.store, "GET", checked_key(key), lifetime)
        except Exception as err:  # no credentials to sign with (anonymous access, say)
            log.info("no link to %s from %s: %s", key, self._describe, err)
            return None

    def list_keys(self, prefix: str) -> list[str]:
        found = [
            meta["path"]
            for chunk in obstore.list(self.store, checked_prefix(prefix))
            for meta in chunk
        ]
        return sorted(found)

    def put_file(self, key: str, path: Path) -> None:
        obstore.put(self.store, checked_key(key), path, chunk_size=_CHUNK_BYTES)

    def get_file(self, key: str, path: Path) -> bool:
        try:
            result = obstore.get(self.store, checked_key(key))
        except (NotFoundError, FileNotFoundError):
            return False
        # Streamed to a temporary file, renamed into place whole: a full-rank optimizer
        # state is hundreds of MB, and a reader never sees half a file.
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".tmp-{path.name}-{os.getpid()}")
        try:
            with temporary.open("wb") as out:
                for chunk in result.stream(min_chunk_size=_CHUNK_BYTES):
                    out.write(chunk)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        return True
