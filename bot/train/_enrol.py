"""The shared end of /train and the "Train a pet" context menu: download, enrol, reply;
and the download-and-queue step /grow shares with them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import discord

from bot.errors import UserError
from bot.train._downloads import download
from bot.train._user_locks import UserLocks
from bot.utils.format import MESSAGE_LIMIT, bullet_list, clip, safe, safe_keeping_code
from engine.intake import Rejection, Upload
from engine.orders.enrolment import Enrolled, EnrollmentRefused, TrainingOrder, enrol_subject
from engine.orders.liveness import live_engines
from engine.orders.status import JobLine, build_status, duration

if TYPE_CHECKING:
    from bot.client import PetBooth

Queued = TypeVar("Queued")


async def enrol_and_reply(
    bot: PetBooth,
    locks: UserLocks,
    interaction: discord.Interaction,
    name: str,
    class_noun: str,
    attachments: Sequence[discord.Attachment],
) -> None:
    """Call after deferring: downloads and validation take longer than Discord's 3 s."""
    order = TrainingOrder(
        owner_id=interaction.user.id,
        name=name,
        class_noun=class_noun,
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id,
    )
    enrolled, refused_files = await download_and_queue(
        bot,
        locks,
        interaction,
        attachments,
        lambda uploads: enrol_subject(bot.db, bot.settings, order, uploads),
        "Training",
    )
    report = await build_status(bot.db, owner_id=interaction.user.id)
    line = next((j for j in report.jobs if j.id == enrolled.job_id), None)
    engine_running = bool(await live_engines(bot.db, bot.settings))
    await interaction.followup.send(
        queued_text(enrolled, line, refused_files, engine_running=engine_running),
        file=discord.File(enrolled.contact_sheet, filename="contact-sheet.jpg"),
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )


async def download_and_queue(
    bot: PetBooth,
    locks: UserLocks,
    interaction: discord.Interaction,
    attachments: Sequence[discord.Attachment],
    queue: Callable[[list[Upload]], Awaitable[Queued]],
    what: str,
) -> tuple[Queued, list[Rejection]]:
    """Download the attachments and `queue` them under the user's lock: one training per
    user at a time, so a double-submitted /train or /grow validates its photos once. A
    refusal ("`what` not queued: ...") is the user's reply; else the queued result and the
    files that could not be downloaded."""
    downloaded = await download(attachments, bot.settings.max_file_bytes)
    try:
        async with locks.hold(interaction.user.id):
            queued = await queue(downloaded.uploads)
    except EnrollmentRefused as refused:
        raise UserError(refusal_text(refused, downloaded.refused, what)) from refused
    return queued, downloaded.refused


def _rejection_lines(rejected: Sequence[Rejection]) -> list[str]:
    return [f"`{safe(r.filename)}`: {safe(r.reason)}" for r in rejected]


def skipped_text(head: str, rejected: Sequence[Rejection]) -> str:
    """The "Skipped:" list, a line per file, in what a message after `head` has room for."""
    budget = MESSAGE_LIMIT - len(head) - 40
    return f"Skipped:\n{bullet_list(_rejection_lines(rejected), budget)}"


def refusal_text(
    refused: EnrollmentRefused, refused_files: Sequence[Rejection], what: str = "Training"
) -> str:
    # The engine's reasons mark commands and examples as `code` on purpose; only the text
    # around them can hold a user's words.
    head = f"{what} not queued:\n" + "\n".join(f"- {safe_keeping_code(r)}" for r in refused.reasons)
    rejected = [*refused_files, *(refused.intake.rejected if refused.intake else [])]
    if not rejected:
        return clip(head)
    budget = MESSAGE_LIMIT - len(head) - 40
    files = bullet_list(_rejection_lines(rejected), budget)
    return clip(f"{head}\nFiles I could not use:\n{files}")


def queued_text(
    enrolled: Enrolled,
    line: JobLine | None,
    refused_files: Sequence[Rejection],
    *,
    engine_running: bool,
) -> str:
    subject, intake = enrolled.subject, enrolled.intake
    name = safe(subject.name)
    parts = [
        f"**{name}** ({safe(subject.class_noun)}) is queued for training: job "
        f"{enrolled.job_id}, {_when(line, engine_running)}",
        f"Training on {len(intake.accepted)} photos (below, framed as they will train), "
        f"{enrolled.config.steps} "
        f"steps. Once it is ready, in /imagine prompts write TOK where {name} goes: "
        f"`a photo of TOK {subject.class_noun} on the beach`.",
        "I'll post progress and previews in this channel.",
    ]
    if intake.warnings:
        parts.append("\n".join(f"Note: {safe(w)}" for w in intake.warnings))
    rejected = [*refused_files, *intake.rejected]
    head = "\n".join(parts)
    if rejected:
        parts.append(skipped_text(head, rejected))
    return clip("\n".join(parts))


def _when(line: JobLine | None, engine_running: bool) -> str:
    """Where the job stands and when it will be ready; no estimate without an engine."""
    where = f"position {line.position} in the queue" if line and line.position else "starting now"
    if not engine_running:  # an ETA would be a promise nobody is there to keep
        return f"{where}. No engine is running right now: your training starts when one does."
    return f"{where}, ready in about {duration(line.eta_seconds if line else None)}."
