"""Keep a process's local cache within `storage_cache_limit_gib` when the files live
elsewhere (an object store, another folder): the bot and every engine download photos,
previews, pictures and LoRAs into their data dir, and nothing else ever deletes them there.
The bot trims hourly, each engine between jobs (and at the same times each drops its copies
of forgotten pets: engine/orders/forgotten_copies.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from engine.storage.cache_files import Trimmed
from engine.storage.opening import open_storage

if TYPE_CHECKING:
    from pathlib import Path

    from engine.settings import Settings

log = logging.getLogger(__name__)

# Files written or used in the last hour stay whatever the limit: a running job's newest
# checkpoints (one every few minutes), pictures the bot is about to post (seconds after the
# engine publishes them), a LoRA an /imagine just fetched.
CACHE_KEEP_SECONDS = 3600.0

GIB = 1024**3


def trim_local_cache(settings: Settings) -> Trimmed:
    """Trim the data dir to the limit; nothing where it is the store itself, or the limit
    is 0. Blocking: call it on a thread. A failure is logged, never raised: the bot's loop
    and the engine go on, and the next trim tries again."""
    if settings.storage_cache_limit_gib == 0:
        return Trimmed(files=0, bytes=0)
    try:
        return open_storage(settings).trim_cache(
            int(settings.storage_cache_limit_gib * GIB),
            keep_newer_than_seconds=CACHE_KEEP_SECONDS,
            spare=database_files(settings),
        )
    except Exception:  # a store that cannot be reached, a folder we may not write in
        log.warning("could not trim the local cache in %s", settings.data_dir, exc_info=True)
        return Trimmed(files=0, bytes=0)


def database_files(settings: Settings) -> tuple[Path, ...]:
    """The SQLite database and its journals (no files at all for a PostgreSQL URL)."""
    if isinstance(settings.database_target, str):
        return ()
    database = settings.database_path
    return tuple(
        database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")
    )
