"""How /server shows a server's rules and today's use of its quotas."""

from __future__ import annotations

import discord

from bot.utils.guild_rules import role_names
from engine.orders.guild_rules import discord_time, reset_at
from engine.store.guilds import GuildRules, Usage

# /server quota's choices: the rule each one sets, and how it reads.
QUOTAS = {
    "trainings-per-user": ("daily_trainings_per_user", "Trainings a day per member"),
    "trainings-per-guild": ("daily_trainings_per_guild", "Trainings a day for the server"),
    "pictures-per-user": ("daily_pictures_per_user", "Pictures a day per member"),
    "pictures-per-guild": ("daily_pictures_per_guild", "Pictures a day for the server"),
}


def on_off(value: bool) -> str:
    return "on" if value else "off"


def limit_text(limit: int | None) -> str:
    return "unlimited" if limit is None else str(limit)


def who_may(guild: discord.Guild | None, role_ids: tuple[int, ...]) -> str:
    if not role_ids:
        return "everyone"
    names = role_names(guild, role_ids)
    if not names:
        return "nobody but server managers (its roles were deleted)"
    return f"members with {' or '.join(names)}, and server managers"


def rules_text(rules: GuildRules, today: Usage, guild: discord.Guild | None, now: float) -> str:
    paused = "**yes**: /train, /imagine and picture buttons refuse" if rules.paused else "no"
    lines = [
        "**petbooth in this server**",
        f"Paused: {paused}",
        f"May /train: {who_may(guild, rules.train_role_ids)}",
        f"May /imagine: {who_may(guild, rules.imagine_role_ids)}",
    ]
    lines += [f"{label}: {limit_text(getattr(rules, field))}" for field, label in QUOTAS.values()]
    lines += [
        f"Used today: {today.trainings} trainings, {today.pictures} pictures (quotas reset "
        f"{discord_time(reset_at(now))}, 00:00 UTC; failed and cancelled jobs don't count)",
        f"Safety filter: {on_off(rules.safety_filter)}",
    ]
    if rules.updated_by is not None and rules.updated_at is not None:
        lines.append(
            f"Last changed by <@{rules.updated_by}> {discord_time(int(rules.updated_at))}."
        )
    return "\n".join(lines)
