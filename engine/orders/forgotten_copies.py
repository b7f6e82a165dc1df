"""A forgotten pet's files on the other machines: /forget deletes the pet from storage and
from the local cache of the process it ran in, and records its folders
(``subjects.forgotten_folders``). Every other process that keeps a local cache of object
storage (each engine, each bot shard) drops its copies when it next looks: engines between
jobs, the bot at its hourly cache trim. Where the data dir is the store itself, /forget
already deleted the files."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from engine.settings import Settings
from engine.storage import open_storage
from engine.storage.base import checked_key, remove_cached
from engine.store import Database, subjects

log = logging.getLogger(__name__)


async def drop_forgotten(db: Database, settings: Settings, after_id: int) -> int:
    """Delete this process's cached copies of the folders of pets forgotten since
    `after_id` (0: every one recorded); returns the newest id seen, for the next call."""
    forgotten = await subjects.forgotten_folders(db, after_id)
    if not forgotten:
        return after_id
    if not open_storage(settings).is_cache:
        keys = [key for _, key in forgotten]
        await asyncio.to_thread(_remove_copies, settings.data_dir, keys)
    return forgotten[-1][0]


def _remove_copies(data_dir: Path, keys: list[str]) -> None:
    removed = 0
    for key in keys:
        path = data_dir / checked_key(key)  # a key, never a path out of the data dir
        if path.exists():
            remove_cached(path)
            removed += 1
    if removed:
        log.info("dropped the local copies of %d folders of forgotten pets", removed)
