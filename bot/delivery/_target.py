"""Where a job's messages go: its channel, through the bot token (interaction tokens die
after 15 minutes; a training takes longer). A channel that is gone or closed to the bot
(NotFound / Forbidden) falls back to a DM to the job's owner."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import discord

from engine.store import Job

log = logging.getLogger(__name__)

UNREACHABLE = (discord.NotFound, discord.Forbidden)
Place = discord.PartialMessageable | discord.DMChannel


@dataclass
class Outgoing:
    content: str
    files: Callable[[], list[discord.File]] = field(default=lambda: [])  # fresh per attempt
    view: discord.ui.View | None = None

    def kwargs(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"files": self.files()}
        if self.view is not None:
            extra["view"] = self.view
        return {
            "content": self.content,
            "allowed_mentions": discord.AllowedMentions.none(),
            **extra,
        }


class JobTarget:
    def __init__(self, client: discord.Client, job: Job) -> None:
        self.client = client
        self.job = job

    def _places(self) -> list[Callable[[], Awaitable[Place]]]:
        places: list[Callable[[], Awaitable[Place]]] = []
        if self.job.channel_id is not None:
            channel_id = self.job.channel_id
            places.append(lambda: self._channel(channel_id))
        places.append(self._dm)
        return places

    async def _channel(self, channel_id: int) -> Place:
        return self.client.get_partial_messageable(channel_id)

    async def _dm(self) -> Place:
        user = self.client.get_user(self.job.owner_id) or await self.client.fetch_user(
            self.job.owner_id
        )
        return user.dm_channel or await user.create_dm()

    async def send(self, outgoing: Outgoing) -> discord.Message | None:
        """Post to the channel, else DM the owner; None when neither is possible."""
        for place in self._places():
            try:
                messageable = await place()
                return await messageable.send(**outgoing.kwargs())
            except UNREACHABLE as error:
                log.info(
                    "Job %d: cannot post here (%s); trying the next place",
                    self.job.id,
                    error.status,
                )
        log.warning("Job %d: neither its channel nor its owner's DMs accept messages", self.job.id)
        return None

    async def edit(self, message_id: int, content: str) -> discord.Message | None:
        """Edit a message this job posted earlier (in its channel or the DM fallback)."""
        for place in self._places():
            try:
                messageable = await place()
                partial = messageable.get_partial_message(message_id)
                return await partial.edit(content=content)
            except UNREACHABLE:
                continue
        return None
