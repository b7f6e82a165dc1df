"""The bot: a discord.py client that owns nothing global. Settings and the database come
in from ``main()``; each feature is a package under ``bot/`` loaded as an extension in
``setup_hook``."""

from __future__ import annotations

import logging
from typing import Any, cast

import discord
from discord.ext import commands

from bot.errors import PetBoothTree
from engine.settings import Settings
from engine.store import Database

log = logging.getLogger(__name__)

# One package per feature: its __init__ holds setup(), _cog.py its commands.
EXTENSIONS = (
    "bot.train",
    "bot.imagine",
    "bot.jobs",
    "bot.pets",
    "bot.delivery",
    "bot.health",
    "bot.server",
)


class PetBooth(commands.Bot):
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        sync_commands: bool = False,
        **client_options: Any,
    ) -> None:
        super().__init__(
            # Slash commands only: no prefix commands, so no message-content intent.
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=discord.Intents.default(),
            tree_cls=PetBoothTree,
            allowed_mentions=discord.AllowedMentions.none(),
            **client_options,
        )
        self.settings = settings
        self.db = db
        self._sync_commands = sync_commands

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self._sync_commands:
            await self.sync_app_commands()

    async def sync_app_commands(self) -> int:
        """Register the commands with Discord: instantly in the dev guild when one is set,
        else globally. Only on request (``--sync-commands``): syncing on every start
        spends a tightly rate-limited endpoint for nothing."""
        guild_id = self.settings.discord_dev_guild_id
        if guild_id is not None:
            guild = discord.Object(guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("Synced %d commands to guild %d", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("Synced %d commands globally (may take up to an hour to appear)", len(synced))
        return len(synced)


class ShardedPetBooth(PetBooth, commands.AutoShardedBot):
    """The same bot on discord.py's AutoShardedClient: several gateway connections (shards)
    in one process. Everything else, including every command, is PetBooth's."""


def make_bot(settings: Settings, db: Database, *, sync_commands: bool = False) -> PetBooth:
    """The bot the settings ask for: one connection, or the shards this process holds."""
    if not settings.sharded:
        return PetBooth(settings, db, sync_commands=sync_commands)
    return ShardedPetBooth(
        settings,
        db,
        sync_commands=sync_commands,
        shard_count=settings.discord_shard_count,
        shard_ids=list(settings.discord_shard_ids) if settings.discord_shard_ids else None,
    )


def petbooth_of(interaction: discord.Interaction) -> PetBooth:
    """The bot behind a component interaction (buttons and modals get no cog)."""
    return cast("PetBooth", interaction.client)
