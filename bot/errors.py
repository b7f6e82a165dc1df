"""The one place interaction errors end up: refusals become a short ephemeral reply, the
unexpected is logged with its context and the user only hears that something went wrong.

Slash commands reach it through the command tree's ``on_error``; buttons and modals call
``report_interaction_error`` from their own ``on_error`` hooks, so there is one policy."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bot.utils.format import clip, quoted
from engine.store.outage import store_unavailable

log = logging.getLogger(__name__)

GENERIC_FAILURE = "Something went wrong on our side. It has been logged; please try again later."
STORE_AWAY = (
    "My database is not answering right now (it is restarting, or busy). Please try again in "
    "a minute; /status then shows whether this request was taken."
)


class UserError(app_commands.AppCommandError):
    """A refusal the user caused and can act on; its text is shown to them as is.

    An ``AppCommandError`` subclass, so discord.py hands it to the tree unwrapped."""


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged.
    Clipped to Discord's 2000 characters: a longer reply is refused and the user sees nothing."""
    text = clip(text)
    if interaction.response.is_done():
        await interaction.followup.send(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
    else:
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


def _known_error_text(error: Exception) -> str | None:
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, app_commands.NoPrivateMessage):
        return "Use this command in a server channel, not in DMs."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand {quoted(str(error.value))}: check the option and try again."
    return None


def _describe(interaction: discord.Interaction) -> str:
    command = interaction.command.qualified_name if interaction.command else None
    data: dict[str, object] = dict(interaction.data or {})
    custom_id = data.get("custom_id")
    what = f"/{command}" if command else f"component {custom_id!r}"
    return (
        f"{what} by user {interaction.user.id} in guild {interaction.guild_id} "
        f"channel {interaction.channel_id}"
    )


async def report_interaction_error(interaction: discord.Interaction, error: Exception) -> None:
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    text = _known_error_text(original)
    if text is None and store_unavailable(original):  # not a bug: said, in one log line
        log.warning("The store did not answer %s: %s", _describe(interaction), original)
        text = STORE_AWAY
    if text is None:
        log.error("Unexpected error in %s", _describe(interaction), exc_info=original)
        text = GENERIC_FAILURE
    try:
        await reply_ephemeral(interaction, text)
    except discord.HTTPException:
        log.warning("Could not tell the user about an error in %s", _describe(interaction))


async def guarded(
    interaction: discord.Interaction, action: Callable[[discord.Interaction], Awaitable[None]]
) -> None:
    """Run a button's action under the same error policy as the command tree
    (discord.py only logs a dynamic item's exception, and the user would see nothing)."""
    try:
        await action(interaction)
    except Exception as error:
        await report_interaction_error(interaction, error)


class PetBoothTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report_interaction_error(interaction, error)
