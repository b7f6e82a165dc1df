"""What the bot knows about the channel an interaction came from."""

from __future__ import annotations

import discord


def age_restricted(interaction: discord.Interaction) -> bool:
    """Discord marks the channel age-restricted (NSFW); a thread is when its parent is
    (discord.py's ``Thread.is_nsfw``). DMs and channels the bot cannot see are not: their
    pictures stay checked."""
    if interaction.guild_id is None:
        return False
    channel = getattr(interaction, "channel", None)  # buttons' tests pass a bare namespace
    is_nsfw = getattr(channel, "is_nsfw", None)  # DMs, PartialMessageable: no such flag
    return bool(is_nsfw()) if callable(is_nsfw) else False
