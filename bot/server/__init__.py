"""/server: a server admin's rules for petbooth in their server (roles, daily quotas, the
pause switch, the safety filter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    from bot.server._cog import Server

    await bot.add_cog(Server(bot))
