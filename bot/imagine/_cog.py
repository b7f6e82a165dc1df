"""/imagine: queue pictures of a trained pet; the delivery loop posts them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.imagine._orders import queue_order, queued_text
from bot.utils.access import own_subject
from bot.utils.channels import age_restricted
from bot.utils.guild_rules import ensure_may
from engine.orders.imagine import ASPECTS, MAX_LORA_SCALE, MAX_SEED, ImagineOrder
from engine.orders.pet_names import normalise_name
from engine.orders.styles import STYLES
from engine.store import SubjectStatus, subjects

if TYPE_CHECKING:
    from bot.client import PetBooth


class Imagine(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot

    @app_commands.command(name="imagine", description="Draw your pet: write TOK where it goes")
    @app_commands.describe(
        prompt="e.g. a photo of TOK cat on a skateboard",
        subject="Which pet (default: your latest ready one)",
        with_pet="A second pet in the same picture: write TOK1 and TOK2 where they go",
        count="How many pictures",
        seed="Same seed + same prompt = same picture",
        steps="Denoising steps (more: slower, finer)",
        negative="What to keep out of the picture",
        aspect="Picture shape",
        lora_scale="How strongly your pet's model applies: 1 normal, lower if pictures look "
        "overcooked",
        style="A look for the picture (adds a few words to the prompt; the reply shows them)",
    )
    @app_commands.choices(
        aspect=[app_commands.Choice(name=a, value=a) for a in ASPECTS],
        style=[app_commands.Choice(name=s, value=s) for s in STYLES],
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1000],
        subject: str | None = None,
        with_pet: str | None = None,
        count: app_commands.Range[int, 1, 8] = 1,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, 100] | None = None,
        negative: app_commands.Range[str, 1, 1000] | None = None,
        aspect: str = "square",
        lora_scale: app_commands.Range[float, 0.0, MAX_LORA_SCALE] = 1.0,
        style: str | None = None,
    ) -> None:
        await ensure_may(interaction, "imagine")
        if subject is not None:  # the bot's answer: it never echoes the name unescaped
            subject = (await own_subject(self.bot.db, interaction.user.id, subject)).name
        if with_pet is not None:
            with_pet = (await own_subject(self.bot.db, interaction.user.id, with_pet)).name
        order = ImagineOrder(
            owner_id=interaction.user.id,
            prompt=prompt,
            subject_name=subject,
            with_pet=with_pet,
            negative_prompt=negative,
            count=count,
            seed=seed,
            steps=steps,
            aspect=aspect,
            lora_scale=lora_scale,
            style=style,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            age_restricted=age_restricted(interaction),
        )
        queued = await queue_order(self.bot, order)
        await interaction.response.send_message(await queued_text(self.bot, queued), ephemeral=True)

    @imagine.autocomplete("subject")
    @imagine.autocomplete("with_pet")
    async def _ready_subjects(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        mine = await subjects.list_for_owner(self.bot.db, interaction.user.id)
        typed = normalise_name(current)
        return [
            app_commands.Choice(name=s.name, value=s.name)
            for s in mine
            if s.status is SubjectStatus.READY and typed in s.name
        ][:25]
