"""Delivery: engine events from the SQLite outbox become Discord messages and buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.delivery.buttons import GenerationButton, UseStepButton
from bot.delivery.loop import Delivery

if TYPE_CHECKING:
    from bot.client import PetBooth


async def setup(bot: PetBooth) -> None:
    # Registered on every start, so buttons posted before a restart keep working.
    bot.add_dynamic_items(UseStepButton, GenerationButton)
    await bot.add_cog(Delivery(bot))
