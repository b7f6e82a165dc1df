"""Buttons under delivered pictures: Reroll, More like these, Delete.

Each is a ``DynamicItem``: its state lives in its custom_id, so buttons on messages posted
before a restart keep working after it."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import discord

from bot.client import petbooth_of
from bot.errors import UserError, guarded
from bot.imagine._orders import next_seed, order_like, queue_order, queued_text
from bot.utils.guild_rules import ensure_may
from bot.utils.paths import inside
from engine.storage import open_storage
from engine.store import Job, JobKind, jobs

# What each button does, as the end of "Only the person who asked for these pictures can…".
_MAY = {
    "reroll": "reroll them. Use /imagine for your own.",
    "more": "ask for more like them. Use /imagine for your own.",
    "delete": "delete them.",
    "vary": "vary or upscale them. Use /imagine for your own.",
}
# Why a button of pictures whose job is gone does nothing (/forget deletes a pet's jobs).
_GONE = {
    "reroll": "These pictures' pet was forgotten, so they can't be rerolled.",
    "more": "These pictures' pet was forgotten, so no more can be drawn like them.",
    "delete": "These pictures' pet was forgotten, so I can no longer tell whose they are; "
    "a moderator can delete the message.",
    "vary": "These pictures' pet was forgotten, so they can't be varied or upscaled.",
}


async def own_generation(interaction: discord.Interaction, job_id: int, action: str) -> Job:
    """The `generate` job whose pictures a button is under, when its presser asked for
    them; else the UserError that says why `action` (a key of _MAY) is not theirs to do."""
    job = await jobs.get(petbooth_of(interaction).db, job_id)
    if job is None or job.kind is not JobKind.GENERATE:
        raise UserError(_GONE[action])
    if job.owner_id != interaction.user.id:
        raise UserError(f"Only the person who asked for these pictures can {_MAY[action]}")
    return job


class GenerationButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"pb:gen:(?P<action>reroll|more|delete):(?P<job>\d{1,18})",
):
    """Reroll (new random seed), More (the next seeds: new pictures made the same way),
    Delete (the message). Owner only."""

    LABELS: ClassVar = {"reroll": "Reroll", "more": "More like these", "delete": "Delete"}
    STYLES: ClassVar = {
        "reroll": discord.ButtonStyle.primary,
        "more": discord.ButtonStyle.secondary,
        "delete": discord.ButtonStyle.danger,
    }

    def __init__(self, action: str, job_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=self.LABELS[action],
                style=self.STYLES[action],
                custom_id=f"pb:gen:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> GenerationButton:
        return cls(match["action"], int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._press)

    async def _press(self, interaction: discord.Interaction) -> None:
        if self.action == "delete":
            await own_generation(interaction, self.job_id, "delete")
            await interaction.response.defer()
            if interaction.message is not None:
                await interaction.message.delete()
            settings = petbooth_of(interaction).settings
            pictures = settings.output_dir(self.job_id).relative_to(settings.data_dir)
            if inside(settings.data_dir, pictures) is not None:  # the files go with the message
                storage = open_storage(settings)
                await asyncio.to_thread(storage.delete_folder, pictures.as_posix())
            return
        bot = petbooth_of(interaction)
        job = await own_generation(interaction, self.job_id, self.action)
        await ensure_may(interaction, "imagine")  # where it is pressed: this server's rules
        seed = next_seed(job) if self.action == "more" else None
        queued = await queue_order(bot, await order_like(bot.db, job, interaction, seed=seed))
        await interaction.response.send_message(await queued_text(bot, queued), ephemeral=True)


def generation_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("reroll", "more", "delete"):
        view.add_item(GenerationButton(action, job_id))
    return view
