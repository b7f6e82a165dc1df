"""/train and the "Train a pet from these photos" message command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError, report_interaction_error
from bot.train._downloads import is_photo_or_zip
from bot.train._enrol import enrol_and_reply
from bot.train._grow import grow_and_reply
from bot.train._photo_options import photo_descriptions, with_photo_options
from bot.train._user_locks import UserLocks
from bot.utils.guild_rules import ensure_may
from engine.orders.growth import GrowthMode

if TYPE_CHECKING:
    from bot.client import PetBooth

CONTEXT_MENU_NAME = "Train a pet from these photos"


def _short_field(label: str, example: str, custom_id: str) -> discord.ui.TextInput[Any]:
    """A one-line modal field of 1-32 characters, like /train's name and class options."""
    return discord.ui.TextInput(
        label=label, placeholder=example, custom_id=custom_id, min_length=1, max_length=32
    )


async def _allowed_photos(
    interaction: discord.Interaction, photos: dict[str, discord.Attachment | None]
) -> list[discord.Attachment]:
    """/train's and /grow's start: the server's rules before the photos are downloaded,
    then the defer (downloads take longer than Discord's 3 s), then the photos given."""
    await ensure_may(interaction, "train")
    await interaction.response.defer(ephemeral=True, thinking=True)
    return [a for a in photos.values() if a is not None]


class TrainModal(discord.ui.Modal, title="Train a pet"):
    """Asks for what a message's photos cannot say: the pet's name and what it is."""

    pet_name = _short_field("The pet's name", "thor", "pet_name")
    pet_class = _short_field("What is it? (one word)", "cat", "pet_class")

    def __init__(
        self, bot: PetBooth, locks: UserLocks, attachments: list[discord.Attachment]
    ) -> None:
        super().__init__()
        self.bot = bot
        self.locks = locks
        self.attachments = attachments

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await enrol_and_reply(
            self.bot,
            self.locks,
            interaction,
            self.pet_name.value,
            self.pet_class.value,
            self.attachments,
        )

    async def on_error(  # type: ignore[override]  # Modal's own signature has no item
        self, interaction: discord.Interaction, error: Exception
    ) -> None:
        await report_interaction_error(interaction, error)


class Train(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot
        self.locks = UserLocks()
        # discord.py cannot declare context menus inside a cog: build and register it here.
        self.context_menu = app_commands.ContextMenu(
            name=CONTEXT_MENU_NAME, callback=self.train_from_message
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.context_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.context_menu.name, type=self.context_menu.type)

    @app_commands.command(name="train", description="Teach me your pet from 10-15 photos")
    @app_commands.rename(pet_class="class")
    @app_commands.describe(
        name="What you call your pet, e.g. thor",
        pet_class="What it is, one word: cat, dog, rabbit…",
        **photo_descriptions(),
    )
    @with_photo_options
    async def train(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 32],
        pet_class: app_commands.Range[str, 1, 32],
        **photos: discord.Attachment | None,
    ) -> None:
        attachments = await _allowed_photos(interaction, photos)
        await enrol_and_reply(self.bot, self.locks, interaction, name, pet_class, attachments)

    @app_commands.command(name="grow", description="Add photos to a pet and train it again")
    @app_commands.describe(
        name="Your pet's name",
        mode="continue: from its current model, half the steps; fresh: a new model",
        **photo_descriptions(),
    )
    @with_photo_options
    async def grow(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 32],
        mode: Literal["continue", "fresh"] = "continue",
        **photos: discord.Attachment | None,
    ) -> None:
        attachments = await _allowed_photos(interaction, photos)  # a growth is a training
        await grow_and_reply(self.bot, self.locks, interaction, name, GrowthMode(mode), attachments)

    async def train_from_message(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        await ensure_may(interaction, "train")
        attachments = [a for a in message.attachments if is_photo_or_zip(a)]
        if not attachments:
            raise UserError(
                "That message has no photos or .zip files. Use it on a message with 10-15 "
                "photos of your pet, or use /train."
            )
        await interaction.response.send_modal(TrainModal(self.bot, self.locks, attachments))
