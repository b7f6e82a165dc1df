"""/imagine, and the Reroll / More / Delete and Vary / Upscale buttons under its pictures."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    from bot.imagine._cog import Imagine
    from bot.imagine.buttons import GenerationButton
    from bot.imagine.vary_buttons import VaryButton, VaryMenu

    # Registered on every start, so buttons posted before a restart keep working.
    bot.add_dynamic_items(GenerationButton, VaryButton, VaryMenu)
    await bot.add_cog(Imagine(bot))
