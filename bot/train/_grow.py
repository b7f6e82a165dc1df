"""/grow's work after the defer: download, grow the pet (engine/orders/growth.py), reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.train._enrol import download_and_queue, skipped_text
from bot.train._user_locks import UserLocks
from bot.utils.format import clip, safe
from engine.intake import Rejection
from engine.orders.growth import Grown, GrowthMode, GrowthOrder, grow_subject

if TYPE_CHECKING:
    from bot.client import PetBooth


async def grow_and_reply(
    bot: PetBooth,
    locks: UserLocks,
    interaction: discord.Interaction,
    name: str,
    mode: GrowthMode,
    attachments: Sequence[discord.Attachment],
) -> None:
    """Call after deferring: downloads and validation take longer than Discord's 3 s."""
    order = GrowthOrder(
        owner_id=interaction.user.id,
        name=name,
        mode=mode,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
    )
    grown, refused_files = await download_and_queue(  # /train's lock: a growth is a training
        bot,
        locks,
        interaction,
        attachments,
        lambda uploads: grow_subject(bot.db, bot.settings, order, uploads),
        "Growth",
    )
    await interaction.followup.send(
        grown_text(grown, refused_files),
        file=discord.File(grown.contact_sheet, filename="contact-sheet.jpg"),
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )


def grown_text(grown: Grown, refused_files: Sequence[Rejection]) -> str:
    name, growth = safe(grown.subject.name), grown.growth
    how = (
        "continuing from its current model"
        if growth.mode is GrowthMode.CONTINUE
        else "a fresh model on every photo"
    )
    head = (
        f"**{name}** is queued to grow from {growth.photos_before} to {growth.photos_after} "
        f"photos: job {grown.job_id}, {grown.config.steps} steps, {how} (below, every photo "
        f"it will train on). Until it is ready, /imagine draws {name} with its current model."
    )
    skipped = [*refused_files, *grown.intake.rejected]
    return clip(f"{head}\n{skipped_text(head, skipped)}" if skipped else head)
