"""A forgotten pet's files on the other machines: /forget deletes the pet from storage and
from the local cache of the process it ran in, and records its folders
(``subjects.forgotten_folders``). Every other process that keeps a local cache of object
storage (each engine, each bot shard) drops its copies when it next looks: engines between
jobs, the bot at its hourly cache trim. Where the data dir is the store itself, /forget
already deleted the files."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from engine.settings import Settings
from engine.storage import Storage, open_storage
from engine.storage.base import remove_cached
from engine.store import Database, jobs, subjects

# A pet's folders are subjects/<pet>, jobs/<id>, outputs/<id>: anything shallower (subjects/,
# jobs/ themselves) is every user's, and /forget never records nor deletes it.
MIN_DEPTH = 2

log = logging.getLogger(__name__)


# Looks overlap by this much: a /forget whose transaction began earlier (its rows carry its
# start time) but committed after the last look is still seen. Deleting twice is harmless.
OVERLAP_SECONDS = 300.0
_JOB_FOLDER = re.compile(r"(?:jobs|outputs)/(\d+)")


async def drop_forgotten(db: Database, settings: Settings, since: float) -> float:
    """Delete this process's cached copies of the folders of pets forgotten at `since` or
    later (-inf: every one recorded); returns where the next look starts."""
    storage = open_storage(settings)
    if storage.is_cache:  # the data dir is the store: /forget deleted the files already
        return since
    forgotten = await subjects.forgotten_folders(db, since)
    if not forgotten:
        return since
    keys = [key for _, key in forgotten]
    # On SQLite a new job may reuse a forgotten job's id, and with it the folder.
    reused = set(await jobs.existing_ids(db, _job_ids(keys)))
    keys = [key for key in keys if _job_id(key) not in reused]
    await asyncio.to_thread(_remove_copies, storage, keys)
    return forgotten[-1][0] - OVERLAP_SECONDS


def _job_id(key: str) -> int | None:
    found = _JOB_FOLDER.fullmatch(key)
    return int(found[1]) if found else None


def _job_ids(keys: list[str]) -> list[int]:
    return [job_id for key in keys if (job_id := _job_id(key)) is not None]


def _remove_copies(storage: Storage, keys: list[str]) -> None:
    removed = 0
    for key in keys:
        path = storage.cache_path(key)  # a key, never a path out of the data dir
        if len(Path(key).parts) < MIN_DEPTH:
            continue
        if path.exists():
            remove_cached(path)
            removed += 1
    if removed:
        log.info("dropped the local copies of %d folders of forgotten pets", removed)
