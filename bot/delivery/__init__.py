"""Delivery: engine events from the SQLite outbox become Discord messages and buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    from bot.delivery._cog import Delivery

    await bot.add_cog(Delivery(bot))
