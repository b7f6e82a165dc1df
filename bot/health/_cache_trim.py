"""Trim the bot's local cache once an hour: with files in an object store, every picture,
preview and LoRA the bot posts is downloaded into its data dir, and nothing else deletes it.
At the same time it drops its copies of pets another bot process was told to /forget."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

from discord.ext import commands, tasks

from engine.orders.forgotten_copies import drop_forgotten
from engine.storage import trim_local_cache

if TYPE_CHECKING:
    from bot.client import PetBooth

log = logging.getLogger(__name__)

# Deliveries add MB an hour at most against a limit of GiB: hourly keeps it close enough.
TRIM_EVERY_HOURS = 1.0


class CacheTrim(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot
        self._forgotten_since = -math.inf  # where the next look for forgotten pets starts

    async def cog_load(self) -> None:
        self.trim.start()

    async def cog_unload(self) -> None:
        self.trim.cancel()

    @tasks.loop(hours=TRIM_EVERY_HOURS)
    async def trim(self) -> None:
        # On a thread: a walk of the data dir, and a HEAD request for each file it deletes.
        await asyncio.to_thread(trim_local_cache, self.bot.settings)
        try:
            self._forgotten_since = await drop_forgotten(
                self.bot.db, self.bot.settings, self._forgotten_since
            )
        except Exception:  # tried again at the next trim
            log.exception("Could not drop the copies of forgotten pets")
