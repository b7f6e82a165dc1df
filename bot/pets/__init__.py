"""/forget and /export: a pet's owner removes it or takes its trained model home."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    from bot.pets._cog import Pets

    await bot.add_cog(Pets(bot))
