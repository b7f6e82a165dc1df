"""The "Use step N" button under each preview grid: draw with the LoRA of that step.

A ``DynamicItem``: its state lives in its custom_id, so buttons on messages posted before a
restart keep working after it."""

from __future__ import annotations

from typing import Any

import discord

from bot.client import petbooth_of
from bot.errors import UserError, guarded
from bot.utils.format import safe
from engine.orders.lora_files import checkpoint_kept
from engine.store import subjects


class UseStepButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    # The training's job id came later (a pet may have several: /grow); buttons without it
    # name the pet's model in use.
    template=r"pb:step:(?P<subject>\d{1,18}):(?P<step>\d{1,9})(?::(?P<job>\d{1,18}))?",
):
    """On a preview grid: train on, but draw with the LoRA from this step."""

    def __init__(self, subject_id: int, step: int, job_id: int | None = None) -> None:
        tail = f":{job_id}" if job_id is not None else ""
        super().__init__(
            discord.ui.Button(
                label=f"Use step {step}",
                style=discord.ButtonStyle.primary,
                custom_id=f"pb:step:{subject_id}:{step}{tail}",
            )
        )
        self.subject_id = subject_id
        self.step = step
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> UseStepButton:
        job = match["job"]
        return cls(int(match["subject"]), int(match["step"]), int(job) if job else None)

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._choose)

    async def _choose(self, interaction: discord.Interaction) -> None:
        db = petbooth_of(interaction).db
        subject = await subjects.get(db, self.subject_id)
        if subject is None:
            raise UserError("This pet was forgotten, so there is no step left to choose.")
        if subject.owner_id != interaction.user.id:
            raise UserError(
                f"Only the pet's owner can choose which step {safe(subject.name)} draws with."
            )
        settings = petbooth_of(interaction).settings
        model_job = await subjects.model_job(db, subject.id)
        if self.job_id is not None and self.job_id != model_job:
            raise UserError(
                f"This preview is from a training {safe(subject.name)} does not draw with: "
                "while it grows, wait until it is ready; after that, press a button of its "
                "newest training's previews."
            )
        if not await checkpoint_kept(db, settings, subject.id, self.step):
            raise UserError(
                f"{safe(subject.name)}'s step {self.step} is no longer kept: press a later "
                "preview's button, or keep the final model."
            )
        await subjects.choose_checkpoint(db, subject.id, self.step)
        await interaction.response.send_message(
            f"**{safe(subject.name)}** will draw with its step-{self.step} model. Press "
            "another preview's button to change your mind.",
            ephemeral=True,
        )


def preview_view(subject_id: int, step: int, job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(UseStepButton(subject_id, step, job_id))
    return view
