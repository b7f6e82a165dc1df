"""The outbox reader: engine events become channel messages, each exactly once, however
many bot processes (shards) share the database and whenever one of them dies.

1. Claim. At every poll a process claims whole jobs' undelivered events under a lease
   (``events.claim``, ``delivery_claim_seconds``), only for guilds on its own shards (and
   DMs on shard 0, as Discord routes them). No other process touches a claimed job's events
   until the claim expires; then the first to poll takes the job over. A process shutting
   down releases its claims, so a restart hands over at once.
2. Mark sending. Right before every Discord call the process records in the store that it is
   about to post (``events.mark_sending``): the time, and a snowflake from its clock two
   minutes earlier (clocks are NTP-close, not equal), below any id the message can get. The
   same write renews the claim and is the fence: when it fails, the claim was lost, and the
   process leaves the job to the new holder without calling Discord.
3. Post with the event's own nonce, then record the message id (``mark_delivered``). While
   a call is in flight (a slow upload, a rate-limit sleep) its claim is renewed
   (``_keep_claim.py``), so no other process takes the job over meanwhile.

A process killed between 3's post and its record leaves an event marked sending and not
delivered. Whoever delivers it next (a fresh process, or this one after a failed write)
first searches the place from that snowflake onwards, oldest first, for the bot's message
with the same text and buttons, and records it instead of posting again
(``JobTarget.send``). Starting at the attempt, not at the newest message, finds it however
many messages came after. The search happens before the new attempt is marked, so a crash
in between leaves the older start in place. What the search cannot see (an attempt that
reaches Discord after the search, from a process stalled past its lease) Discord's nonce
dedupe absorbs: every attempt at one event carries the same nonce."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands, tasks

from bot.delivery import render
from bot.delivery._keep_claim import keep_claim
from bot.delivery._target import JobTarget, Outgoing
from engine.storage import open_storage
from engine.store import Event, EventKind, Job, JobKind, Subject, events, jobs, subjects
from engine.store.database import EVENTS_CHANNEL
from engine.store.outage import Outage, store_unavailable

if TYPE_CHECKING:
    from bot.client import PetBooth

log = logging.getLogger(__name__)

PROGRESS_KINDS = frozenset({EventKind.STARTED, EventKind.RETRYING, EventKind.PROGRESS})
# Discord rate-limits message edits per channel (about 5 per 5 s): one edit per job every
# 3 s leaves room for previews and other jobs in the same channel.
PROGRESS_EDIT_SECONDS = 3.0
BATCH = 50  # jobs claimed per poll; a backlog drains over a few polls, oldest first
MAX_ATTEMPTS = 3  # an event that fails this often is logged and skipped, not retried forever
# How far before its own clock's "now" a process says a post may begin: Discord stamps the
# message with Discord's clock, which an NTP-synced host's is within a second of.
CLOCK_SKEW = timedelta(minutes=2)


class ClaimLost(Exception):
    """Another bot process holds this event's job now: leave it to that one."""


class Delivery(commands.Cog):
    def __init__(self, bot: PetBooth, bot_id: str | None = None) -> None:
        self.bot = bot
        self.bot_id = bot_id or process_id()  # whose claims these are, in the outbox
        self._lease = bot.settings.delivery_claim_seconds
        self._last_edit: dict[int, float] = {}
        self._failures: Counter[int] = Counter()
        self._notified = False  # set in cog_load: whether the store wakes the loop (NOTIFY)
        self._outage = Outage(log, "delivery")  # the store away: one line, then one when back

    async def cog_load(self) -> None:
        # PostgreSQL: each round ends in `wait_for`, woken by NOTIFY when an event is appended
        # (the poll interval is its fallback). SQLite cannot notify: the loop's own interval.
        self._notified = self.bot.db.dialect == "postgres"
        interval = 0 if self._notified else self.bot.settings.delivery_poll_seconds
        self.poll.change_interval(seconds=interval)
        self.poll.start()

    async def cog_unload(self) -> None:
        self.poll.cancel()
        try:
            await events.release(self.bot.db, self.bot_id)
        except Exception:  # the claims then expire after their lease instead
            log.exception("Could not release the outbox claims of %s", self.bot_id)

    @tasks.loop(seconds=1.0)
    async def poll(self) -> None:
        try:
            await self.deliver_pending()
        except Exception as err:
            if store_unavailable(err):  # said once, not at every poll until it is back
                self._outage.failed(err)
            else:
                log.exception("Delivery poll failed; retrying at the next poll")
        else:
            self._outage.answered()
        if self._notified:
            await self.bot.db.wait_for(EVENTS_CHANNEL, self.bot.settings.delivery_poll_seconds)

    @poll.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def deliver_pending(self) -> int:
        """Deliver what is waiting; returns how many events were settled."""
        batch = await events.claim(
            self.bot.db, self.bot_id, self._lease, jobs_limit=BATCH, **self._shards()
        )
        newest_progress = {e.job_id: e.id for e in batch if e.kind in PROGRESS_KINDS}
        held: set[int] = set()  # jobs whose next event must wait: keeps each job in order
        settled = 0
        for event in batch:
            if event.job_id in held:
                continue
            superseded = event.kind in PROGRESS_KINDS and newest_progress[event.job_id] != event.id
            try:
                done = await self._deliver(event, superseded)
            except ClaimLost:
                log.info("Event %d of job %d is another bot's now", event.id, event.job_id)
                done = False
            except Exception as err:
                if store_unavailable(err):  # not the event's fault: no attempt counted;
                    raise  # the rest waits for the next poll too
                done = await self._failed_attempt(event)
            if done:
                settled += 1
            else:
                held.add(event.job_id)
        return settled

    def _shards(self) -> dict[str, Any]:
        """The shards this process holds (``events.claim``'s filter); none: all of them."""
        ids = getattr(self.bot, "shard_ids", None)  # AutoShardedClient; None: every shard
        if ids is None and self.bot.shard_id is not None:
            ids = [self.bot.shard_id]
        count = self.bot.shard_count
        return {"shard_ids": ids, "shard_count": count} if ids is not None and count else {}

    async def _mark_sending(self, event: Event, *, keep_start: bool = False) -> None:
        """The store hears of every Discord call before Discord does (see the docstring).
        ``keep_start``: an edit, after which a post may follow that still has to search
        from the earlier attempt's start."""
        start = event.sending_after_id if keep_start else None
        if start is None:
            start = discord.utils.time_snowflake(discord.utils.utcnow() - CLOCK_SKEW)
        if not await events.mark_sending(self.bot.db, event.id, self.bot_id, self._lease, start):
            raise ClaimLost(event.id)

    async def _failed_attempt(self, event: Event) -> bool:
        self._failures[event.id] += 1
        attempts = self._failures[event.id]
        log.exception(
            "Delivering event %d (%s) of job %d failed, attempt %d of %d",
            event.id,
            event.kind.value,
            event.job_id,
            attempts,
            MAX_ATTEMPTS,
        )
        if attempts < MAX_ATTEMPTS:
            return False
        log.error("Giving up on event %d of job %d", event.id, event.job_id)
        await events.mark_delivered(self.bot.db, event.id, None)
        del self._failures[event.id]
        return True

    async def _mark(self, event: Event, message: discord.Message | None) -> bool:
        await events.mark_delivered(self.bot.db, event.id, message.id if message else None)
        return True

    async def _deliver(self, event: Event, superseded: bool) -> bool:
        db = self.bot.db
        job = await jobs.get(db, event.job_id)
        if job is None:
            return await self._mark(event, None)
        subject = await subjects.get(db, job.subject_id) if job.subject_id is not None else None
        if event.kind is EventKind.FAILED:
            return await self._post(event, job, render.failed(job, subject, event))
        if event.kind is EventKind.CANCELLED:
            return await self._post(event, job, render.cancelled(job, subject))
        if job.kind is JobKind.GENERATE:
            if event.kind is EventKind.DONE:
                paths, missing = await self._files(event)
                return await self._post(
                    event, job, render.pictures(job, subject, event, paths, missing)
                )
            return await self._mark(event, None)  # pictures take seconds: no progress shown
        if event.kind in PROGRESS_KINDS:
            if superseded:  # a newer progress event for this job is waiting: show that one
                return await self._mark(event, None)
            return await self._progress(event, job, subject)
        if event.kind is EventKind.PREVIEW:
            paths, _ = await self._files(event)
            return await self._post(event, job, render.preview(job, subject, event, paths))
        if event.kind is EventKind.DONE:
            paths, _ = await self._files(event)
            return await self._post(event, job, render.ready(job, subject, event, paths))
        return await self._mark(event, None)  # queued, checkpoint: nothing to show

    async def _files(self, event: Event) -> tuple[list[Path], int]:
        settings = self.bot.settings
        return await asyncio.to_thread(  # may download from an object store
            render.attachable,
            open_storage(settings),
            event.files,
            settings.discord_upload_limit_bytes,
        )

    async def _send(
        self, target: JobTarget, event: Event, outgoing: Outgoing
    ) -> discord.Message | None:
        # Marked sending before: an earlier attempt (this process's or a dead one's) may
        # have posted it.
        earlier = event.sending_after_id if event.sending_at is not None else None
        async with keep_claim(self.bot.db, event, self.bot_id, self._lease):
            return await target.send(  # the search, the post, the DM fallback
                outgoing,
                nonce=event_nonce(event),
                earlier_after=earlier,
                before_send=lambda: self._mark_sending(event),
            )

    async def _post(self, event: Event, job: Job, outgoing: Outgoing) -> bool:
        message = await self._send(JobTarget(self.bot, job), event, outgoing)
        return await self._mark(event, message)

    async def _progress(self, event: Event, job: Job, subject: Subject | None) -> bool:
        text = render.progress_text(job, subject, event)
        target = JobTarget(self.bot, job)
        previous = await self._progress_message_id(job.id)
        message = None
        if previous is not None:
            since = time.monotonic() - self._last_edit.get(job.id, float("-inf"))
            if since < PROGRESS_EDIT_SECONDS:
                return False  # edited moments ago: try again at a later poll
            async with keep_claim(self.bot.db, event, self.bot_id, self._lease):
                await self._mark_sending(event, keep_start=True)
                message = await target.edit(previous, text)
        if message is None:
            message = await self._send(target, event, Outgoing(text))
        self._last_edit[job.id] = time.monotonic()
        return await self._mark(event, message)

    async def _progress_message_id(self, job_id: int) -> int | None:
        for event in reversed(await events.for_job(self.bot.db, job_id)):
            if event.kind in PROGRESS_KINDS and event.message_id is not None:
                return event.message_id
        return None


def process_id() -> str:
    """Unique to this process, and says where it runs: host, pid, and a random part (pids
    repeat across restarts and containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def event_nonce(event: Event) -> str:
    """The same for every attempt at one event, different for another event (its creation
    time tells apart events of a database that was reset). Discord allows 25 characters."""
    return f"pb{event.id}.{round(event.created_at * 1000) % 10**9}"
