"""/train, the "Train a pet from these photos" message command, and the "Use step N"
button under preview grids."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    from bot.train._cog import Train
    from bot.train.buttons import UseStepButton

    # Registered on every start, so buttons posted before a restart keep working.
    bot.add_dynamic_items(UseStepButton)
    await bot.add_cog(Train(bot))
