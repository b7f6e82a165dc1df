"""An event's claim stays alive while a Discord call for it is in flight.

A post of 10 pictures of 8 MB, or discord.py sleeping out a rate limit, can outlast the
claim's lease (``delivery_claim_seconds``, 30 s). Another process would then take the job
over, search the channel, not find the message (still uploading) and post it again. So a
background task renews the claim (``events.extend_claim``) every third of the lease until
the call ends: two renewals may come late or fail (a slow database) before it lapses.

A call still in flight after ``HUNG_CALL_SECONDS`` is hung (a connection that never
answers), not slow: it is abandoned with TimeoutError, which counts as a failed attempt, so
the claim is no longer renewed for nothing and a later attempt searches for the message
before it posts again.

A process whose event loop itself stalls past the lease renews nothing, and loses the claim
as it should. A renewal that finds the claim lost can only log it: the call cannot be
recalled. Its record (``events.mark_delivered``) then never overwrites the new holder's,
as it writes only an event that nobody recorded yet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from engine.store import Database, Event, events

log = logging.getLogger(__name__)

RENEWALS_PER_LEASE = 3
# Ten 8 MB pictures upload in seconds, and discord.py's rate-limit sleeps are at most a
# minute or two: ten minutes is far past any call that is still going to finish.
HUNG_CALL_SECONDS = 600.0


@asynccontextmanager
async def keep_claim(
    db: Database, event: Event, bot_id: str, lease_seconds: float
) -> AsyncIterator[None]:
    """``async with keep_claim(...):`` around a Discord call for ``event``."""
    renewing = asyncio.create_task(_renew(db, event, bot_id, lease_seconds))
    try:
        async with asyncio.timeout(HUNG_CALL_SECONDS):
            yield
    finally:
        renewing.cancel()
        await asyncio.gather(renewing, return_exceptions=True)


async def _renew(db: Database, event: Event, bot_id: str, lease_seconds: float) -> None:
    while True:
        await asyncio.sleep(lease_seconds / RENEWALS_PER_LEASE)
        try:
            held = await events.extend_claim(db, event.id, bot_id, lease_seconds)
        except Exception:  # the next renewal may get through before the lease runs out
            log.exception("Could not renew the claim on event %d of job %d", event.id, event.job_id)
            continue
        if not held:
            log.warning(
                "Event %d of job %d: claim lost during its Discord call; its new holder may "
                "post it too",
                event.id,
                event.job_id,
            )
            return
