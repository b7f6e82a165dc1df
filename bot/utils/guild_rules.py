"""Who may /train and /imagine in a server: the roles its admin picked with /server roles.
Only Discord knows a member's roles, so this check is the bot's; the pause switch and the
quotas are checked again where the job is queued (engine.orders.guild_rules)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import discord

from bot.client import petbooth_of
from bot.errors import UserError
from bot.utils.format import safe
from engine.orders.guild_rules import PAUSED
from engine.store import guilds
from engine.store.guilds import GuildRules

Action = Literal["train", "imagine"]


def manages_server(interaction: discord.Interaction) -> bool:
    """Manage Server (or Administrator, which implies it) in this channel."""
    return interaction.guild_id is not None and interaction.permissions.manage_guild


def role_names(guild: discord.Guild | None, role_ids: Iterable[int]) -> list[str]:
    """``@name`` of each role that still exists, escaped for a message."""
    roles = [guild.get_role(i) for i in role_ids] if guild else []
    return [f"@{safe(r.name)}" for r in roles if r is not None]


async def ensure_may(interaction: discord.Interaction, action: Action) -> None:
    """Refuse (``UserError``) a member the server's rules keep from ``action`` here: the
    server is paused, or the command is kept to roles the member has none of. DMs have no
    server and no rules."""
    if interaction.guild_id is None:
        return
    rules = await guilds.get(petbooth_of(interaction).db, interaction.guild_id)
    if rules.paused:
        raise UserError(PAUSED)
    refusal = role_refusal(interaction, rules, action)
    if refusal is not None:
        raise UserError(refusal)


def role_refusal(interaction: discord.Interaction, rules: GuildRules, action: Action) -> str | None:
    """Why the server's roles keep this member from ``action`` here, or None (/status says
    it before they try). Members who can manage the server pass the role rule."""
    allowed = rules.train_role_ids if action == "train" else rules.imagine_role_ids
    if not allowed or manages_server(interaction):
        return None
    member = interaction.user
    if isinstance(member, discord.Member) and any(r.id in allowed for r in member.roles):
        return None
    names = role_names(interaction.guild, allowed)
    if not names:  # every role the admin picked was deleted since: nobody is let in by chance
        return (
            f"The role allowed to /{action} here no longer exists; ask a server admin to "
            f"pick one with `/server roles`."
        )
    return (
        f"Only members with the {' or '.join(names)} role may /{action} here; ask a server admin."
    )
