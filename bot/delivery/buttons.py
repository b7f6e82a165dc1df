"""Buttons on delivered messages. Each is a ``DynamicItem``: its state lives in its
custom_id, so buttons on messages posted before a restart keep working after it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

import discord

from bot._format import safe
from bot._imagine_orders import next_seed, order_like, queue_order, queued_text
from bot._paths import inside
from bot.errors import UserError, report_interaction_error
from engine.lora_files import checkpoint_weights
from engine.store import Job, JobKind, jobs, subjects

if TYPE_CHECKING:
    from bot.client import PetBooth


async def guarded(
    interaction: discord.Interaction, action: Callable[[discord.Interaction], Awaitable[None]]
) -> None:
    """Run a button's action under the same error policy as the command tree
    (discord.py only logs a dynamic item's exception, and the user would see nothing)."""
    try:
        await action(interaction)
    except Exception as error:
        await report_interaction_error(interaction, error)


def _bot(interaction: discord.Interaction) -> PetBooth:
    return cast("PetBooth", interaction.client)


class UseStepButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"pb:step:(?P<subject>\d{1,18}):(?P<step>\d{1,9})",
):
    """On a preview grid: train on, but draw with the LoRA from this step."""

    def __init__(self, subject_id: int, step: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Use step {step}",
                style=discord.ButtonStyle.primary,
                custom_id=f"pb:step:{subject_id}:{step}",
            )
        )
        self.subject_id = subject_id
        self.step = step

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> UseStepButton:
        return cls(int(match["subject"]), int(match["step"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._choose)

    async def _choose(self, interaction: discord.Interaction) -> None:
        db = _bot(interaction).db
        subject = await subjects.get(db, self.subject_id)
        if subject is None or subject.owner_id != interaction.user.id:
            raise UserError("Only the pet's owner can choose its checkpoint.")
        settings = _bot(interaction).settings
        if await checkpoint_weights(db, settings, subject.id, self.step) is None:
            raise UserError(
                f"Step {self.step} of {safe(subject.name)} is no longer kept. Pick a later "
                "preview, or keep the final model."
            )
        await subjects.choose_checkpoint(db, subject.id, self.step)
        await interaction.response.send_message(
            f"**{safe(subject.name)}** will draw with its step-{self.step} model. Press "
            "another preview's button to change your mind.",
            ephemeral=True,
        )


async def _own_generation(interaction: discord.Interaction, job_id: int, verb: str) -> Job:
    job = await jobs.get(_bot(interaction).db, job_id)
    if job is None or job.kind is not JobKind.GENERATE:
        raise UserError("Those pictures' pet was forgotten, so there is nothing to " + verb + ".")
    if job.owner_id != interaction.user.id:
        raise UserError(
            f"Only the person who asked for these pictures can {verb} them. "
            "Use /imagine for your own."
        )
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
            await _own_generation(interaction, self.job_id, "delete")
            await interaction.response.defer()
            if interaction.message is not None:
                await interaction.message.delete()
            settings = _bot(interaction).settings
            pictures = inside(
                settings.data_dir, settings.output_dir(self.job_id).relative_to(settings.data_dir)
            )
            if pictures is not None:  # the files go with the message
                await asyncio.to_thread(shutil.rmtree, pictures, True)
            return
        bot = _bot(interaction)
        job = await _own_generation(interaction, self.job_id, self.action)
        seed = next_seed(job) if self.action == "more" else None
        queued = await queue_order(bot, await order_like(bot.db, job, interaction, seed=seed))
        await interaction.response.send_message(await queued_text(bot.db, queued), ephemeral=True)


def generation_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("reroll", "more", "delete"):
        view.add_item(GenerationButton(action, job_id))
    return view


def preview_view(subject_id: int, step: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(UseStepButton(subject_id, step))
    return view
