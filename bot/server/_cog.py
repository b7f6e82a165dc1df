"""/server show | roles | quota | pause | safety: a server admin's rules for petbooth here.

Hidden from members without Manage Server by default; a server can grant the command to
others in its integration settings, so every subcommand checks the permission again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError
from bot.server._rules_text import QUOTAS, limit_text, on_off, rules_text, who_may
from bot.utils.guild_rules import manages_server
from engine.orders.guild_rules import discord_time, reset_at
from engine.store import guilds
from engine.store.guilds import GuildRules

if TYPE_CHECKING:
    from bot.client import PetBooth

MAX_DAILY_LIMIT = 100_000  # a sanity bound for a typo, far above any GPU's day of work
_SWITCHES = {"paused": "Pause", "safety_filter": "Safety filter"}  # how replies name them


class Server(commands.Cog):
    server = app_commands.Group(
        name="server",
        description="Server admins: who may use petbooth here, and how much",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not manages_server(interaction):
            raise UserError("Only members with the Manage Server permission can use /server.")
        return True

    async def _change(
        self, interaction: discord.Interaction, edit: Callable[[GuildRules], GuildRules]
    ) -> tuple[GuildRules, GuildRules]:
        assert interaction.guild_id is not None  # guild_only
        return await guilds.change(self.bot.db, interaction.guild_id, interaction.user.id, edit)

    @server.command(name="show", description="This server's petbooth rules and today's use")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        db = self.bot.db
        rules = await guilds.get(db, interaction.guild_id)
        now = await db.current_time()
        today = await guilds.usage(db, interaction.guild_id, now)
        text = rules_text(rules, today, interaction.guild, now)
        await interaction.response.send_message(text, ephemeral=True)

    @server.command(name="roles", description="Keep /train or /imagine to members with a role")
    @app_commands.describe(
        command="Which command the role is for",
        role="A role that may use it (leave empty: everyone may again)",
        remove="Take this role off the list instead of adding it",
    )
    async def roles(
        self,
        interaction: discord.Interaction,
        command: Literal["train", "imagine"],
        role: discord.Role | None = None,
        remove: bool = False,
    ) -> None:
        field = f"{command}_role_ids"

        def edit(rules: GuildRules) -> GuildRules:
            current: tuple[int, ...] = getattr(rules, field)
            if role is None:
                kept: tuple[int, ...] = ()
            elif remove:
                kept = tuple(i for i in current if i != role.id)
            else:
                kept = current if role.id in current else (*current, role.id)
            changes: dict[str, Any] = {field: kept}
            return replace(rules, **changes)

        before, after = await self._change(interaction, edit)
        guild = interaction.guild
        await interaction.response.send_message(
            f"May /{command} here: {who_may(guild, getattr(after, field))} "
            f"(was: {who_may(guild, getattr(before, field))}).",
            ephemeral=True,
        )

    @server.command(name="quota", description="A daily limit on trainings or pictures")
    @app_commands.describe(
        what="Which limit",
        limit="How many a day (0 or empty: unlimited); resets at 00:00 UTC",
    )
    async def quota(
        self,
        interaction: discord.Interaction,
        what: Literal[
            "trainings-per-user", "trainings-per-guild", "pictures-per-user", "pictures-per-guild"
        ],
        limit: app_commands.Range[int, 0, MAX_DAILY_LIMIT] | None = None,
    ) -> None:
        field, label = QUOTAS[what]
        value = limit or None  # 0 and empty both lift it
        changes: dict[str, Any] = {field: value}
        before, _ = await self._change(interaction, lambda r: replace(r, **changes))
        now = await self.bot.db.current_time()
        await interaction.response.send_message(
            f"{label}: {limit_text(value)} (was: {limit_text(getattr(before, field))}). "
            f"Quotas reset at 00:00 UTC, next {discord_time(reset_at(now))}; failed and "
            "cancelled jobs don't count.",
            ephemeral=True,
        )

    async def _switch(
        self,
        interaction: discord.Interaction,
        field: Literal["paused", "safety_filter"],
        state: Literal["on", "off"],
        said: tuple[str, str],
    ) -> None:
        """Turn a rule on or off; the reply says it, what it was and `said` (on, off)."""
        changes: dict[str, Any] = {field: state == "on"}
        before, after = await self._change(interaction, lambda r: replace(r, **changes))
        now: bool = getattr(after, field)
        label = _SWITCHES[field]
        was = f"(was: {on_off(getattr(before, field))})"
        text = f"{label}: {on_off(now)} {was}. {said[0] if now else said[1]}"
        await interaction.response.send_message(text, ephemeral=True)

    @server.command(name="pause", description="Stop or restart /train, /grow and /imagine here")
    @app_commands.describe(state="on: refuse new trainings and pictures; off: accept them")
    async def pause(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        said = (
            "/train, /grow, /imagine and the picture buttons refuse until "
            "`/server pause state:off`; jobs already queued still finish.",
            "Members may /train and /imagine again.",
        )
        await self._switch(interaction, "paused", state, said)

    @server.command(name="safety", description="Check pictures before they are posted here")
    @app_commands.describe(state="on: check every picture (default); off: post them unchecked")
    async def safety(self, interaction: discord.Interaction, state: Literal["on", "off"]) -> None:
        said = (
            "Pictures queued from now on are checked before they are posted (not in "
            "age-restricted channels).",
            "Pictures queued from now on are posted unchecked.",
        )
        await self._switch(interaction, "safety_filter", state, said)
