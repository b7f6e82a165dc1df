"""/grow's work after the defer: download, grow the pet (engine/orders/growth.py), reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.errors import UserError
from bot.train._downloads import download
from bot.train._enrol import refusal_text
from bot.train._user_locks import UserLocks
from bot.utils.format import MESSAGE_LIMIT, bullet_list, clip, safe
from engine.intake import Rejection
from engine.orders.enrolment import EnrollmentRefused
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
    downloaded = await download(attachments, bot.settings.max_file_bytes)
    order = GrowthOrder(
        owner_id=interaction.user.id,
        name=name,
        mode=mode,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
    )
    try:
        async with locks.hold(order.owner_id):  # /train's lock: one training per user
            grown = await grow_subject(bot.db, bot.settings, order, downloaded.uploads)
    except EnrollmentRefused as refused:
        raise UserError(refusal_text(refused, downloaded.refused)) from refused
    await interaction.followup.send(
        grown_text(grown, downloaded.refused),
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
    if not skipped:
        return clip(head)
    lines = [f"`{safe(r.filename)}`: {safe(r.reason)}" for r in skipped]
    return clip(f"{head}\nSkipped:\n{bullet_list(lines, MESSAGE_LIMIT - len(head) - 40)}")
