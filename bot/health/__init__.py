"""The bot's upkeep: its heartbeat, proof for `petbooth doctor --liveness bot` (the bot
container's healthcheck) that the bot is logged in to Discord and its event loop is not
stuck; and its local cache, kept within its size when the files live in an object store."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    from bot.health._cache_trim import CacheTrim
    from bot.health._cog import Heartbeat

    await bot.add_cog(Heartbeat(bot))
    await bot.add_cog(CacheTrim(bot))
