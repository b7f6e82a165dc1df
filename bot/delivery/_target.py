"""Where a job's messages go: its channel, through the bot token (interaction tokens die
after 15 minutes; a training takes longer). A channel that is gone or closed to the bot
(NotFound / Forbidden) falls back to a DM to the job's owner.

Sending twice must not post twice. Every send carries the event's own nonce: Discord
(with the ``enforce_nonce`` that discord.py adds) returns the earlier message instead of
posting again, but only for a few minutes. A send that may have reached Discord longer ago
(the bot died between Discord's answer and the database write) is first looked for in the
place, by the bot, with the same text and buttons, from the moment that attempt began
onwards (oldest first): however many messages came after it, the search starts at it."""

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
BeforeSend = Callable[[], Awaitable[None]]
# How many messages from an earlier attempt's start are searched for it (10 history pages of
# 100). The search starts 2 minutes before the attempt (clock skew: see _cog.py) and Discord
# got the attempt seconds after it, so only what the channel carried in those 2 minutes and
# seconds comes first: dozens, not a thousand. Messages after it do not count, however many.
RECONCILE_SCAN = 1000


@dataclass
class Outgoing:
    content: str
    files: Callable[[], list[discord.File]] = field(default=lambda: [])  # fresh per attempt
    view: discord.ui.View | None = None
    # Whose mention may notify: the job's owner on "ready", pictures and failures (what they
    # waited minutes for); nobody else, ever, whatever the text contains.
    ping: int | None = None

    def custom_ids(self) -> list[str]:
        if self.view is None:
            return []
        return [str(getattr(item, "custom_id", "")) for item in self.view.children]

    def kwargs(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"files": self.files()}
        if self.view is not None:
            extra["view"] = self.view
        return {
            "content": self.content,
            "allowed_mentions": discord.AllowedMentions(
                everyone=False,
                roles=False,
                replied_user=False,
                users=[discord.Object(self.ping)] if self.ping is not None else False,
            ),
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

    async def send(
        self,
        outgoing: Outgoing,
        *,
        nonce: str,
        earlier_after: int | None = None,
        before_send: BeforeSend | None = None,
    ) -> discord.Message | None:
        """Post to the channel, else DM the owner; None when neither is possible.
        ``earlier_after``: an earlier attempt, begun at this snowflake, may have posted;
        reuse its message if it did. ``before_send`` runs right before each post (and may
        raise to stop it): the caller records the attempt there."""
        for place in self._places():
            try:
                messageable = await place()
                if earlier_after is not None and (
                    earlier := await self._posted(messageable, outgoing, earlier_after)
                ):
                    log.info("Job %d: message %d was already posted", self.job.id, earlier.id)
                    return earlier
                if before_send is not None:
                    await before_send()
                return await messageable.send(**outgoing.kwargs(), nonce=nonce)
            except UNREACHABLE as error:
                log.info(
                    "Job %d: cannot post here (%s); trying the next place",
                    self.job.id,
                    error.status,
                )
        log.warning("Job %d: neither its channel nor its owner's DMs accept messages", self.job.id)
        return None

    async def _posted(
        self, place: Place, outgoing: Outgoing, after_id: int
    ) -> discord.Message | None:
        me = self.client.user
        if me is None:
            return None
        wanted = outgoing.custom_ids()
        after = discord.Object(after_id)
        try:
            async for message in place.history(
                limit=RECONCILE_SCAN, after=after, oldest_first=True
            ):
                if (
                    message.author.id == me.id
                    and message.content == outgoing.content
                    and _custom_ids(message) == wanted
                ):
                    return message
        except discord.Forbidden:  # may post but not read history: sending is all we can do
            log.info("Job %d: cannot read the history here; sending again", self.job.id)
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


def _custom_ids(message: discord.Message) -> list[str]:
    return [
        str(getattr(child, "custom_id", ""))
        for row in message.components
        for child in getattr(row, "children", [row])
    ]
