"""The outbox: engine events, delivered to the bot once each, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.store import Database, EventKind, JobKind, events, jobs
from tests.engine.store._clock import FakeClock


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


LEASE = 30.0


async def test_two_bots_never_claim_the_same_job(db: Database) -> None:
    first = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    second = await jobs.enqueue(db, JobKind.TRAIN, owner_id=2)
    for job_id in (first, second, first):
        await events.append_event(db, job_id, EventKind.PROGRESS, {"step": job_id})

    mine = await events.claim(db, "bot-a", LEASE, jobs_limit=1)
    theirs = await events.claim(db, "bot-b", LEASE)
    again = await events.claim(db, "bot-b", LEASE)

    assert [e.job_id for e in mine] == [first, first]  # a whole job, in order
    assert [e.job_id for e in theirs] == [second] == [e.job_id for e in again]
    assert {e.claimed_by for e in mine} == {"bot-a"}
    # A job's later event joins its holder's claim, never another bot's.
    await events.append_event(db, first, EventKind.DONE)
    assert [e.job_id for e in await events.claim(db, "bot-b", LEASE)] == [second]
    assert len(await events.claim(db, "bot-a", LEASE)) == 3


async def test_an_expired_claim_is_taken_over(db: Database, clock: FakeClock) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    await events.append_event(db, job_id, EventKind.FAILED, {"error": "boom"})
    [claimed] = await events.claim(db, "bot-a", LEASE)

    clock.now += LEASE - 1
    assert await events.claim(db, "bot-b", LEASE) == []  # still bot-a's
    clock.now += 2
    [taken] = await events.claim(db, "bot-b", LEASE)

    assert taken.id == claimed.id and taken.claimed_by == "bot-b"
    assert not await events.mark_sending(db, taken.id, "bot-a", LEASE, after_id=1)  # fenced
    assert await events.mark_sending(db, taken.id, "bot-b", LEASE, after_id=1)


async def test_sending_then_delivered_marks(db: Database, clock: FakeClock) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    event_id = await events.append_event(db, job_id, EventKind.FAILED, {"error": "boom"})
    [fresh] = await events.claim(db, "bot-a", LEASE)
    assert fresh.sending_at is None and fresh.sending_after_id is None

    clock.now += LEASE - 1
    assert await events.mark_sending(db, event_id, "bot-a", LEASE, after_id=1234)
    clock.now += LEASE - 1  # the mark renewed the claim
    assert await events.claim(db, "bot-b", LEASE) == []
    [sending] = await events.claim(db, "bot-a", LEASE)
    assert sending.sending_at == clock.now - (LEASE - 1) and sending.sending_after_id == 1234

    assert await events.mark_delivered(db, event_id, message_id=99)
    assert not await events.mark_sending(db, event_id, "bot-a", LEASE, after_id=1)
    assert await events.claim(db, "bot-a", LEASE) == []
    [delivered] = await events.for_job(db, job_id)
    assert delivered.message_id == 99 and delivered.delivered_at is not None


async def test_extending_a_claim_renews_the_whole_jobs_lease(
    db: Database, clock: FakeClock
) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    first = await events.append_event(db, job_id, EventKind.PREVIEW, {"step": 100})
    await events.append_event(db, job_id, EventKind.DONE)
    await events.claim(db, "bot-a", LEASE)

    clock.now += LEASE - 1
    assert await events.extend_claim(db, first, "bot-a", LEASE)
    clock.now += LEASE - 1  # past the claim's first lease, within the renewed one

    assert await events.claim(db, "bot-b", LEASE) == []
    assert {e.claim_until for e in await events.for_job(db, job_id)} == {clock.now + 1}


async def test_a_claim_taken_over_is_not_extended(db: Database, clock: FakeClock) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    event_id = await events.append_event(db, job_id, EventKind.FAILED, {"error": "boom"})
    await events.claim(db, "bot-a", LEASE)
    clock.now += LEASE + 1
    [taken] = await events.claim(db, "bot-b", LEASE)

    assert not await events.extend_claim(db, event_id, "bot-a", LEASE)

    [still] = await events.for_job(db, job_id)
    assert still.claimed_by == "bot-b" and still.claim_until == taken.claim_until


async def test_a_released_claim_is_free_at_once(db: Database) -> None:
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    await events.append_event(db, job_id, EventKind.FAILED, {"error": "boom"})
    await events.claim(db, "bot-a", LEASE)

    assert await events.release(db, "bot-a") == 1

    assert [e.claimed_by for e in await events.claim(db, "bot-b", LEASE)] == ["bot-b"]


async def test_each_bot_claims_only_its_shards_guilds_and_dms_go_to_shard_0(
    db: Database,
) -> None:
    # Discord's rule: a guild is on shard (guild_id >> 22) % shard_count.
    on_shard = {shard: ((1000 + shard) << 22) + 17 for shard in range(4)}
    guild_jobs = {
        shard: await jobs.enqueue(db, JobKind.TRAIN, owner_id=1, guild_id=guild_id)
        for shard, guild_id in on_shard.items()
    }
    dm_job = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1, guild_id=None)
    for job_id in [*guild_jobs.values(), dm_job]:
        await events.append_event(db, job_id, EventKind.FAILED, {"error": "boom"})

    low = await events.claim(db, "bot-a", LEASE, shard_ids=[0, 1], shard_count=4)
    high = await events.claim(db, "bot-b", LEASE, shard_ids=[2, 3], shard_count=4)

    assert {e.job_id for e in low} == {guild_jobs[0], guild_jobs[1], dm_job}
    assert {e.job_id for e in high} == {guild_jobs[2], guild_jobs[3]}


async def test_concurrent_claims_from_two_connections_never_overlap(
    db: Database, store_target: Path | str, clock: FakeClock
) -> None:
    """Two bot processes, each its own connection, claiming at the same moment."""
    for owner in range(20):
        job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=owner)
        for step in (1, 2):
            await events.append_event(db, job_id, EventKind.PROGRESS, {"step": step})
    async with await Database.open(store_target, clock=clock) as other:
        claimed: dict[str, set[int]] = {"bot-a": set(), "bot-b": set()}
        for _ in range(4):
            a, b = await asyncio.gather(
                events.claim(db, "bot-a", LEASE, jobs_limit=3),
                events.claim(other, "bot-b", LEASE, jobs_limit=3),
            )
            claimed["bot-a"] |= {e.id for e in a}
            claimed["bot-b"] |= {e.id for e in b}
            for event in a + b:  # delivered: the next round claims other jobs
                await events.mark_delivered(db, event.id)

    assert claimed["bot-a"] and claimed["bot-b"]
    assert not claimed["bot-a"] & claimed["bot-b"]
    assert len(claimed["bot-a"] | claimed["bot-b"]) == 40  # 20 jobs x 2 events, all taken


async def test_a_poll_with_nothing_to_claim_only_reads(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Most polls find nothing: they must not take the claim lock nor write (PostgreSQL
    would run the claim's UPDATE at every poll of every bot process)."""
    job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=1)
    await events.append_event(db, job_id, EventKind.FAILED, {"error": "boom"})
    await events.claim(db, "bot-a", LEASE)  # another bot's live claim: nothing for bot-b

    def no_transaction() -> None:
        raise AssertionError("an idle poll opened a write transaction")

    monkeypatch.setattr(db, "transaction", no_transaction)
    assert await events.claim(db, "bot-b", LEASE) == []
