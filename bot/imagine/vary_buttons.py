"""Vary (subtle), Vary (strong) and Upscale under delivered pictures.

A message holds up to 8 pictures and Discord 5 rows of 5 components: one picture gets
three buttons in the second row; several get one select menu there whose options name the
picture (8 x 3 = 24, within a menu's 25). Both are ``DynamicItem``s: their state lives in
the custom_id (and the chosen value), so they keep working after a restart."""

from __future__ import annotations

from typing import Any

import discord

from bot.client import petbooth_of
from bot.errors import UserError, guarded
from bot.imagine._orders import queue_order, queued_text, refusal
from bot.imagine.buttons import own_generation
from bot.utils.channels import age_restricted
from bot.utils.guild_rules import ensure_may
from engine.orders.imagine import ImagineRefused
from engine.orders.repeat import variation_order
from engine.orders.variations import VARIATIONS, Variation

_ROW = 1  # under Reroll / More like these / Delete
_KINDS: dict[str, Variation] = {kind: kind for kind in VARIATIONS}  # a menu value's kind
_LABELS: dict[Variation, str] = {
    "subtle": "Vary (subtle)",
    "strong": "Vary (strong)",
    "upscale": "Upscale 2x",
}


async def redraw(
    interaction: discord.Interaction, job_id: int, picture: int, kind: Variation
) -> None:
    """Queue a variation or upscale of picture `picture` (1-based) of the presser's job."""
    bot = petbooth_of(interaction)
    job = await own_generation(interaction, job_id, "vary")
    await ensure_may(interaction, "imagine")  # where it is pressed: this server's rules
    try:
        order = await variation_order(
            bot.db,
            bot.settings,
            job.owner_id,
            job.id,
            picture,
            kind,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            age_restricted=age_restricted(interaction),  # this channel decides
        )
    except ImagineRefused as refused:
        raise refusal(refused) from refused
    queued = await queue_order(bot, order)
    await interaction.response.send_message(await queued_text(bot, queued), ephemeral=True)


class VaryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"pb:vary:(?P<kind>subtle|strong|upscale):(?P<job>\d{1,18}):(?P<picture>\d)",
):
    """Under a single picture: one variation or upscale of it. Owner only."""

    def __init__(self, kind: Variation, job_id: int, picture: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=_LABELS[kind],
                style=discord.ButtonStyle.secondary,
                custom_id=f"pb:vary:{kind}:{job_id}:{picture}",
                row=_ROW,
            )
        )
        self.kind, self.job_id, self.picture = kind, job_id, picture

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> VaryButton:
        return cls(match["kind"], int(match["job"]), int(match["picture"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._press)

    async def _press(self, interaction: discord.Interaction) -> None:
        await redraw(interaction, self.job_id, self.picture, self.kind)


class VaryMenu(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"pb:varypick:(?P<job>\d{1,18})",
):
    """Under several pictures: "Vary or upscale picture N…", one option per picture and
    kind; the option's value ("strong:2") says which. Owner only."""

    def __init__(self, job_id: int, pictures: int = 0, kinds: tuple[Variation, ...] = ()) -> None:
        options = [
            discord.SelectOption(label=f"Picture {n}: {_LABELS[kind].lower()}", value=f"{kind}:{n}")
            for n in range(1, pictures + 1)
            for kind in kinds
        ]
        super().__init__(
            discord.ui.Select(
                placeholder="Vary or upscale picture N…",
                custom_id=f"pb:varypick:{job_id}",
                options=options or [discord.SelectOption(label="-", value="-")],
                row=_ROW,
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> VaryMenu:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._chosen)

    async def _chosen(self, interaction: discord.Interaction) -> None:
        chosen = self.item.values[0] if self.item.values else ""
        name, _, picture = chosen.partition(":")
        kind = _KINDS.get(name)
        if kind is None or not picture.isdigit():
            raise UserError("Pick one of the menu's options.")
        await redraw(interaction, self.job_id, int(picture), kind)


def variation_items(job_id: int, pictures: int, upscaled: bool) -> list[discord.ui.Item[Any]]:
    """What goes in the second row: buttons for one picture, a menu for several. An upscaled
    picture offers no second upscale: it would be larger than the bot draws."""
    kinds = tuple(k for k in VARIATIONS if not (upscaled and k == "upscale"))
    if pictures < 1:
        return []
    if pictures == 1:
        return [VaryButton(kind, job_id, 1) for kind in kinds]
    return [VaryMenu(job_id, pictures, kinds)]
