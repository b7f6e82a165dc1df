"""Touch ``Settings.bot_heartbeat_path`` every 30 s while the client is ready. A file, not
a database row: the bot's liveness must not add writes that compete with the engines'."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from discord.ext import commands, tasks

if TYPE_CHECKING:
    from bot.client import PetBooth

log = logging.getLogger(__name__)

# `petbooth doctor --liveness bot` allows 120 s: four missed beats, not one slow one.
HEARTBEAT_SECONDS = 30.0


class Heartbeat(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.beat.start()

    async def cog_unload(self) -> None:
        self.beat.cancel()

    @tasks.loop(seconds=HEARTBEAT_SECONDS)
    async def beat(self) -> None:
        if not self.bot.is_ready() or self.bot.is_closed():
            return
        try:
            await asyncio.to_thread(self.bot.settings.bot_heartbeat_path.touch)
        except OSError:
            log.exception("Could not write the heartbeat file; the healthcheck will fail")

    @beat.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()
