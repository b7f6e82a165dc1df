"""Where petbooth's files live: a local directory or an object store, behind one small API.

Keys are relative, slash-separated and shaped exactly like the data-relative paths rows and
events carried before storage existed ("subjects/7-ab12/photos/0.jpg",
"jobs/12/checkpoints/step-000100/state.json"), so the default backend (the data dir itself)
reads every existing row unchanged. Processes keep the data dir as their local cache: they
write a file there, then ``publish`` it; they ``fetch`` a key to read it from there, and
``trim_local_cache`` keeps that cache within a size.

Torch-free: the bot reads attachments and exports through it.
"""

from __future__ import annotations

from engine.storage.base import Storage, StorageError
from engine.storage.cache_files import Trimmed
from engine.storage.cache_limit import trim_local_cache
from engine.storage.local import LocalStorage
from engine.storage.objects import ObjectStorage
from engine.storage.opening import open_storage

__all__ = [
    "LocalStorage",
    "ObjectStorage",
    "Storage",
    "StorageError",
    "Trimmed",
    "open_storage",
    "trim_local_cache",
]
