"""Queueing pictures, for /imagine and for the buttons on its results (reroll, more, vary)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import discord

from bot.errors import UserError
from bot.utils.channels import age_restricted
from bot.utils.format import safe, safe_keeping_code
from engine.orders.imagine import (
    MAX_SEED,
    ImagineOrder,
    ImagineQueued,
    ImagineRefused,
    enqueue_imagine,
)
from engine.orders.liveness import live_engines
from engine.orders.repeat import order_repeating
from engine.orders.status import build_status, duration
from engine.orders.styles import shown_prompts
from engine.orders.variations import describe_variation
from engine.store import Database, Job

if TYPE_CHECKING:
    from bot.client import PetBooth


async def queue_order(bot: PetBooth, order: ImagineOrder) -> ImagineQueued:
    try:
        return await enqueue_imagine(bot.db, bot.settings, order)
    except ImagineRefused as refused:
        raise refusal(refused) from refused


async def queued_text(bot: PetBooth, queued: ImagineQueued) -> str:
    report = await build_status(bot.db, owner_id=None)
    line = next((j for j in report.jobs if j.id == queued.job_id), None)
    where = f"#{line.position} in the queue" if line and line.position else "starting now"
    engines = await live_engines(bot.db, bot.settings)
    if not engines:  # no estimate nobody is there to keep
        when = f"{where}; no engine is running right now, so they are drawn when one starts"
    elif all(engine.loading for engine in engines):  # just started: the estimate waits too
        when = f"{where}; the engine is still loading its model, so they are drawn once it is"
    else:
        when = f"{where}, about {duration(line.eta_seconds if line else None)}"
    pet = f" of **{safe(queued.subject.name)}**" if queued.subject else ""
    if queued.second is not None:
        pet += f" and **{safe(queued.second.name)}**"
    count = queued.params["count"]
    text = (
        f"Queued {count} picture{'s' if count != 1 else ''}{pet} (job {queued.job_id}, seed "
        f"{queued.params['seed']}): {when}. I'll post them in this channel."
    )
    variation = describe_variation(queued.params)
    if variation is not None:  # a Vary / Upscale press: which picture it redraws
        text += f"\n{variation}."
    shown = shown_prompts(queued.params)
    if shown is not None:  # the words the style adds, so nothing is hidden
        text += f"\nStyle **{queued.params['style']}**: the prompt is {safe(shown[0])}"
        text += f"\nand the negative prompt {safe(shown[1])}"
    return text


async def order_like(
    db: Database, job: Job, interaction: discord.Interaction, *, seed: int | None
) -> ImagineOrder:
    """The same request as ``job``, from where the button was pressed, with ``seed``
    (None: a fresh random one)."""
    try:
        return await order_repeating(
            db,
            job,
            seed=seed if seed is not None else secrets.randbelow(MAX_SEED + 1),
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            age_restricted=age_restricted(interaction),  # this channel decides, not the first's
        )
    except ImagineRefused as refused:
        raise refusal(refused) from refused


def refusal(refused: ImagineRefused) -> UserError:
    """The engine's reasons, one a line, for Discord: `code` in them is meant (an example
    prompt); a pet's name around it is not."""
    return UserError("\n".join(safe_keeping_code(r) for r in refused.reasons))


def next_seed(job: Job) -> int:
    """The seed after this batch's: image i used seed + i, so these are new pictures made
    exactly the same way."""
    return (int(job.params["seed"]) + int(job.params.get("count", 1))) % (MAX_SEED + 1)
