"""The outbox reader: engine events become channel messages, each exactly once.

Every posted message's id is recorded with ``mark_delivered`` right after it is posted, so
a restarted bot continues where the last one stopped, and finds the progress message to
edit from the job's delivered events instead of from memory.

Between Discord accepting a message and ``mark_delivered`` committing, a crash (or a failed
write) leaves a posted event undelivered. So an event that an earlier process may have
tried (created before this one started), or that this one already failed once, is first
looked for in its channel before it is sent again: see ``JobTarget.send``."""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import discord
from discord.ext import commands, tasks

from bot.delivery import render
from bot.delivery._target import JobTarget, Outgoing
from engine.store import Event, EventKind, Job, JobKind, Subject, events, jobs, subjects

if TYPE_CHECKING:
    from bot.client import PetBooth

log = logging.getLogger(__name__)

PROGRESS_KINDS = frozenset({EventKind.STARTED, EventKind.RETRYING, EventKind.PROGRESS})
# Discord rate-limits message edits per channel (about 5 per 5 s): one edit per job every
# 3 s leaves room for previews and other jobs in the same channel.
PROGRESS_EDIT_SECONDS = 3.0
BATCH = 50  # events read per poll; a backlog drains over a few polls, oldest first
MAX_ATTEMPTS = 3  # an event that fails this often is logged and skipped, not retried forever


class Delivery(commands.Cog):
    def __init__(self, bot: PetBooth) -> None:
        self.bot = bot
        self._last_edit: dict[int, float] = {}
        self._failures: Counter[int] = Counter()
        self._started_at = bot.db.now()  # events older than this, an earlier bot may have sent

    async def cog_load(self) -> None:
        self.poll.change_interval(seconds=self.bot.settings.delivery_poll_seconds)
        self.poll.start()

    async def cog_unload(self) -> None:
        self.poll.cancel()

    @tasks.loop(seconds=1.0)
    async def poll(self) -> None:
        try:
            await self.deliver_pending()
        except Exception:
            log.exception("Delivery poll failed; retrying at the next poll")

    @poll.before_loop
    async def _wait_until_ready(self) -> None:
        await self.bot.wait_until_ready()

    async def deliver_pending(self) -> int:
        """Deliver what is waiting; returns how many events were settled."""
        batch = await events.undelivered(self.bot.db, limit=BATCH)
        newest_progress = {e.job_id: e.id for e in batch if e.kind in PROGRESS_KINDS}
        held: set[int] = set()  # jobs whose next event must wait: keeps each job in order
        settled = 0
        for event in batch:
            if event.job_id in held:
                continue
            superseded = event.kind in PROGRESS_KINDS and newest_progress[event.job_id] != event.id
            try:
                done = await self._deliver(event, superseded)
            except Exception:
                done = await self._failed_attempt(event)
            if done:
                settled += 1
            else:
                held.add(event.job_id)
        return settled

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
                paths, missing = self._files(event)
                return await self._post(
                    event, job, render.pictures(job, subject, event, paths, missing)
                )
            return await self._mark(event, None)  # pictures take seconds: no progress shown
        if event.kind in PROGRESS_KINDS:
            if superseded:  # a newer progress event for this job is waiting: show that one
                return await self._mark(event, None)
            return await self._progress(event, job, subject)
        if event.kind is EventKind.PREVIEW:
            paths, _ = self._files(event)
            return await self._post(event, job, render.preview(job, subject, event, paths))
        if event.kind is EventKind.DONE:
            paths, _ = self._files(event)
            return await self._post(event, job, render.ready(job, subject, event, paths))
        return await self._mark(event, None)  # queued, checkpoint: nothing to show

    def _files(self, event: Event) -> tuple[list[Path], int]:
        settings = self.bot.settings
        return render.attachable(
            settings.data_dir, event.files, settings.discord_upload_limit_bytes
        )

    async def _send(
        self, target: JobTarget, event: Event, outgoing: Outgoing
    ) -> discord.Message | None:
        maybe_sent = event.created_at <= self._started_at or self._failures[event.id] > 0
        return await target.send(outgoing, nonce=event_nonce(event), reconcile=maybe_sent)

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


def event_nonce(event: Event) -> str:
    """The same for every attempt at one event, different for another event (its creation
    time tells apart events of a database that was reset). Discord allows 25 characters."""
    return f"pb{event.id}.{round(event.created_at * 1000) % 10**9}"
