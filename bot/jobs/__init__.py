"""/status and /cancel: the caller's jobs, pets and the engines' health."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    from bot.jobs._cog import Jobs

    await bot.add_cog(Jobs(bot))
