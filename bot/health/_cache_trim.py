"""Trim the bot's local cache once an hour: with files in an object store, every picture,
preview and LoRA the bot posts is downloaded into its data dir, and nothing else deletes it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from discord.ext import commands, tasks

from engine.storage import trim_local_cache

if TYPE_CHECKING:
    from bot.client import PetBooth

# Deliveries add MB an hour at most against a limit of GiB: hourly keeps it close enough.
TRIM_EVERY_HOURS = 1.0


class CacheTrim(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.trim.start()

    async def cog_unload(self) -> None:
        self.trim.cancel()

    @tasks.loop(hours=TRIM_EVERY_HOURS)
    async def trim(self) -> None:
        # On a thread: a walk of the data dir, and a HEAD request for each file it deletes.
        await asyncio.to_thread(trim_local_cache, self.bot.settings)
