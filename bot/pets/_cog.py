"""/pets, /forget and /export: a pet's owner looks at it, removes it or takes its trained
model home."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError, report_interaction_error
from bot.pets._cards import build_cards
from bot.pets._export import (
    attachments,
    explanation,
    export_files,
    link_embed,
    model_files,
    nothing_fits,
    plan_delivery,
    upload_limit,
)
from bot.pets._forget import forget_subject, subject_jobs
from bot.pets._listing import pet_cards
from bot.utils.access import own_subject
from bot.utils.format import safe
from engine.orders.pet_names import normalise_name
from engine.storage import open_storage
from engine.store import JobState, Subject, subjects

if TYPE_CHECKING:
    from bot.client import PetBooth

CONFIRM_SECONDS = 120.0  # a confirmation left this long is stale: ask again


class ForgetConfirm(discord.ui.View):
    def __init__(self, bot: PetBooth, owner_id: int, subject: Subject) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.bot = bot
        self.owner_id = owner_id
        self.subject = subject
        self.confirm.label = f"Forget {subject.name}"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            raise UserError(f"Only the pet's owner can forget or keep {safe(self.subject.name)}.")
        return True

    @discord.ui.button(label="Forget", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[ForgetConfirm]
    ) -> None:
        subject = await subjects.get(self.bot.db, self.subject.id)
        if subject is None:
            raise UserError(f"{safe(self.subject.name)} is already forgotten: nothing to do.")
        await _refuse_if_running(self.bot, subject)
        await interaction.response.defer()
        await forget_subject(self.bot.db, self.bot.settings, subject)
        self.stop()
        await interaction.edit_original_response(
            content=f"**{safe(subject.name)}** is forgotten: photos, models and pictures "
            "are deleted.",
            view=None,
        )

    @discord.ui.button(label="Keep", style=discord.ButtonStyle.secondary)
    async def keep(
        self, interaction: discord.Interaction, button: discord.ui.Button[ForgetConfirm]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(
            content=f"Kept **{safe(self.subject.name)}**.", view=None
        )

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item[ForgetConfirm],
    ) -> None:
        await report_interaction_error(interaction, error)


async def _refuse_if_running(bot: PetBooth, subject: Subject) -> None:
    running = [j for j in await subject_jobs(bot.db, subject) if j.state is JobState.RUNNING]
    if running:
        raise UserError(
            f"{safe(subject.name)} can't be forgotten while its job {running[0].id} runs: "
            f"`/cancel job:{running[0].id}` first, then /forget it."
        )


class Pets(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot

    async def _subject_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        mine = await subjects.list_for_owner(self.bot.db, interaction.user.id)
        typed = normalise_name(current)
        return [app_commands.Choice(name=s.name, value=s.name) for s in mine if typed in s.name][
            :25
        ]

    @app_commands.command(name="forget", description="Delete a pet: photos, models, pictures")
    @app_commands.describe(name="The pet's name")
    async def forget(self, interaction: discord.Interaction, name: str) -> None:
        subject = await own_subject(self.bot.db, interaction.user.id, name)
        await _refuse_if_running(self.bot, subject)
        photos = await subjects.photos(self.bot.db, subject.id)
        await interaction.response.send_message(
            f"Forget **{safe(subject.name)}**? This deletes its {len(photos)} photos, its "
            "trained model, previews and pictures. It cannot be undone.",
            view=ForgetConfirm(self.bot, interaction.user.id, subject),
            ephemeral=True,
        )

    @app_commands.command(
        name="export", description="Download a pet's LoRA (diffusers and kohya .safetensors)"
    )
    @app_commands.describe(name="The pet's name")
    async def export(self, interaction: discord.Interaction, name: str) -> None:
        subject = await own_subject(self.bot.db, interaction.user.id, name)
        # Before the files are fetched: tens of MB from a bucket take longer than the 3 s
        # Discord waits for an answer.
        await interaction.response.defer(ephemeral=True, thinking=True)
        settings = self.bot.settings
        files = await model_files(self.bot.db, settings, subject)
        limit = upload_limit(settings, interaction)
        storage = open_storage(settings)
        delivery = await asyncio.to_thread(
            plan_delivery, storage, export_files(subject, files), limit
        )
        if not delivery.messages and not delivery.linked:
            raise UserError(nothing_fits(subject, delivery))
        first, *more = delivery.messages or [[]]
        text = explanation(subject, files, delivery)
        await interaction.followup.send(text, files=attachments(first), ephemeral=True)
        for message in more:  # the files did not fit in one message together
            await interaction.followup.send(files=attachments(message), ephemeral=True)
        for file, link in delivery.linked:
            embed = link_embed(file, link)
            if embed is None:  # not seen with any store; said rather than cut
                await interaction.followup.send(
                    f"The download link for {file.name} is too long for Discord.", ephemeral=True
                )
            else:
                await interaction.followup.send(embed=embed, ephemeral=True)

    @app_commands.command(name="pets", description="Your pets: status, model in use, pictures")
    @app_commands.describe(name="One pet only (default: all of them)")
    async def pets(self, interaction: discord.Interaction, name: str | None = None) -> None:
        cards = await pet_cards(self.bot.db, interaction.user.id)
        if name is not None:
            wanted = (await own_subject(self.bot.db, interaction.user.id, name)).id
            cards = [c for c in cards if c.subject.id == wanted]
        if not cards:
            raise UserError("You have no pets yet: /train one from 10-15 photos.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        storage = open_storage(self.bot.settings)
        limit = self.bot.settings.discord_upload_limit_bytes
        built = await asyncio.to_thread(build_cards, storage, cards, limit)
        more = f" … and {built.more} more: `/pets name:` shows any one." if built.more else ""
        await interaction.followup.send(
            f"Your pets ({len(cards)}):{more}",
            embeds=built.embeds,
            files=built.files(),
            ephemeral=True,
        )

    forget.autocomplete("name")(_subject_choices)
    pets.autocomplete("name")(_subject_choices)
    export.autocomplete("name")(_subject_choices)
