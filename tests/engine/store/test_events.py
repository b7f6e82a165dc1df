"""The outbox: engine events, delivered to the bot once each, in order."""

from __future__ import annotations

from engine.store import Database, EventKind, JobKind, events, jobs


async def test_events_delivered_once_in_order(db: Database) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    for step in (1, 2, 3):
        await events.append_event(db, job_id, EventKind.PROGRESS, {"step": step})
    pending = await events.undelivered(db)
    assert [e.payload["step"] for e in pending] == [1, 2, 3]
    assert await events.mark_delivered(db, pending[0].id, message_id=42)
    assert not await events.mark_delivered(db, pending[0].id, message_id=43)
    assert [e.payload["step"] for e in await events.undelivered(db)] == [2, 3]
    delivered = (await events.for_job(db, job_id))[0]
    assert delivered.message_id == 42 and delivered.delivered_at is not None
