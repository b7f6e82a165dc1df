"""The outbox: the engine appends events, the bot delivers each exactly once.

Several bot processes (shards) may share one outbox. Each ``claim``s whole jobs' undelivered
events under a lease (``claimed_by``, ``claim_until``): a job's events go out in order, so
one process delivers all of a job's waiting events, and no other touches them while the
claim lives; a claim that expired (its process died) is taken over at the next ``claim``.
Before every Discord call the holder runs ``mark_sending``, which is also the fence: it
fails once the claim is lost, and the caller must not call Discord; ``extend_claim`` keeps
the claim while that call is in flight, however long it takes. ``mark_delivered``
records the message. ``sending_at`` set and ``delivered_at`` not: a message may be out
there, and whoever delivers the event next looks for it first (bot/delivery/_cog.py).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from engine.store.database import EVENTS_CHANNEL, Database, Transaction
from engine.store.records import Event, EventKind


async def append_event_tx(
    tx: Transaction,
    job_id: int,
    kind: EventKind,
    payload: dict[str, Any] | None = None,
    files: Sequence[str] = (),
) -> int:
    """Append one event inside the caller's transaction (files: data-dir relative paths)."""
    event_id = await tx.insert_returning_id(
        """INSERT INTO events (job_id, kind, payload, files, created_at)
           VALUES (?, ?, ?, ?, ?) RETURNING id""",
        (job_id, kind.value, json.dumps(payload or {}), json.dumps(list(files)), tx.now),
    )
    await tx.notify(EVENTS_CHANNEL)  # the bot's delivery loop wakes now, not at its next poll
    return event_id


async def append_event(
    db: Database,
    job_id: int,
    kind: EventKind,
    payload: dict[str, Any] | None = None,
    files: Sequence[str] = (),
) -> int:
    """Append one event in a transaction of its own."""
    async with db.transaction() as tx:
        return await append_event_tx(tx, job_id, kind, payload, files)


_STEP_OF_PAYLOAD = {
    "sqlite": "json_extract(payload, '$.step')",
    "postgres": "(payload::jsonb ->> 'step')::bigint",
}


async def has_step_event_tx(tx: Transaction, job_id: int, kind: EventKind, step: int) -> bool:
    """Whether the job already has a `kind` event for `step` (a resumed job redrawing it)."""
    step_of = _STEP_OF_PAYLOAD[tx.dialect]
    row = await tx.fetch_one(
        f"SELECT 1 FROM events WHERE job_id = ? AND kind = ? AND {step_of} = ? LIMIT 1",
        (job_id, kind.value, step),
    )
    return row is not None


async def undelivered(db: Database, limit: int = 100) -> list[Event]:
    """Oldest first, so a job's messages arrive in the order they happened."""
    rows = await db.fetch_all(
        "SELECT * FROM events WHERE delivered_at IS NULL ORDER BY id LIMIT ?", (limit,)
    )
    return [Event.from_row(r) for r in rows]


# Discord puts a guild on shard (guild_id >> 22) % shard_count; 4194304 is 2**22 (portable SQL).
_SHARD_OF_GUILD = "(j.guild_id / 4194304) % {count}"


def _shard_filter(shard_ids: Collection[int] | None, shard_count: int | None) -> str:
    """SQL for "the job's guild is on one of these shards"; DMs (no guild) go to shard 0,
    where Discord sends them. Only ints are formatted into the SQL."""
    if shard_ids is None or shard_count is None:
        return ""
    ids = ", ".join(str(int(i)) for i in sorted(shard_ids)) or "-1"
    on_shards = f"{_SHARD_OF_GUILD.format(count=int(shard_count))} IN ({ids})"
    dms = " OR j.guild_id IS NULL" if 0 in shard_ids else ""
    return f" AND (j.guild_id IS NOT NULL AND {on_shards}{dms})"


async def claim(
    db: Database,
    bot_id: str,
    lease_seconds: float,
    *,
    jobs_limit: int = 50,
    shard_ids: Collection[int] | None = None,
    shard_count: int | None = None,
) -> list[Event]:
    """Claim (or renew) for ``bot_id`` every undelivered event of the oldest ``jobs_limit``
    jobs that no other live claim holds, on the given shards (None: every guild and DMs).
    Oldest first. Whole jobs, so two processes never post one job's messages out of order."""
    if not await _anything_to_claim(db, bot_id, shard_ids, shard_count):
        return []  # an idle poll (most of them) reads, and takes no lock and writes nothing
    async with db.transaction() as tx:
        # PostgreSQL at READ COMMITTED would let two claims split one job between them (each
        # sees the other's rows unclaimed); one claim at a time, as SQLite does anyway.
        await tx.lock("outbox-claim", 0)
        now = tx.now
        rows = await tx.fetch_all(
            f"""UPDATE events SET claimed_by = ?, claim_until = ?
                 WHERE delivered_at IS NULL
                   AND (claimed_by IS NULL OR claimed_by = ? OR claim_until <= ?)
                   AND job_id IN (
                       SELECT e.job_id FROM events AS e JOIN jobs AS j ON j.id = e.job_id
                        WHERE e.delivered_at IS NULL{_shard_filter(shard_ids, shard_count)}
                        GROUP BY e.job_id
                       HAVING SUM(CASE WHEN e.claimed_by <> ? AND e.claim_until > ?
                                       THEN 1 ELSE 0 END) = 0
                        ORDER BY MIN(e.id) LIMIT ?)
                 RETURNING *""",
            (bot_id, now + lease_seconds, bot_id, now, bot_id, now, jobs_limit),
        )
    return sorted((Event.from_row(r) for r in rows), key=lambda e: e.id)


async def _anything_to_claim(
    db: Database, bot_id: str, shard_ids: Collection[int] | None, shard_count: int | None
) -> bool:
    """Whether an undelivered event on these shards is free, ``bot_id``'s, or its claim has
    run out: what ``claim`` may take, job rule aside (a yes may still claim nothing; a no is
    never wrong)."""
    now = await db.current_time()  # PostgreSQL: the database's clock, as ``tx.now``
    row = await db.fetch_one(
        f"""SELECT 1 FROM events AS e JOIN jobs AS j ON j.id = e.job_id
             WHERE e.delivered_at IS NULL
               AND (e.claimed_by IS NULL OR e.claimed_by = ? OR e.claim_until <= ?)
               {_shard_filter(shard_ids, shard_count)}
             LIMIT 1""",
        (bot_id, now),
    )
    return row is not None


async def mark_sending(
    db: Database, event_id: int, bot_id: str, lease_seconds: float, after_id: int
) -> bool:
    """Record, just before a Discord call for the event, that one may post from now on
    (``after_id``: a snowflake below any message it can post), renewing the claim. False:
    ``bot_id`` no longer holds the claim (it expired and was taken, or the event is
    delivered), and the caller must not call Discord."""
    async with db.transaction() as tx:
        return (
            await tx.rowcount(
                """UPDATE events SET sending_at = ?, sending_after_id = ?, claim_until = ?
                    WHERE id = ? AND claimed_by = ? AND claim_until > ?
                      AND delivered_at IS NULL""",
                (tx.now, after_id, tx.now + lease_seconds, event_id, bot_id, tx.now),
            )
            == 1
        )


async def extend_claim(db: Database, event_id: int, bot_id: str, lease_seconds: float) -> bool:
    """Renew ``bot_id``'s claim while a Discord call for the event is in flight (a slow
    upload, a rate-limit sleep): the lease of every undelivered event of its job that
    ``bot_id`` holds runs from now again, as ``claim`` takes whole jobs. False: the event's
    claim is lost (it expired and was taken, or the event is delivered)."""
    async with db.transaction() as tx:
        renewed = await tx.rowcount(
            """UPDATE events SET claim_until = ?
                WHERE claimed_by = ? AND delivered_at IS NULL
                  AND job_id = (SELECT job_id FROM events
                                 WHERE id = ? AND claimed_by = ? AND claim_until > ?
                                   AND delivered_at IS NULL)""",
            (tx.now + lease_seconds, bot_id, event_id, bot_id, tx.now),
        )
    return renewed > 0


async def release(db: Database, bot_id: str) -> int:
    """Give up ``bot_id``'s claims (a bot shutting down): others take them at once instead
    of when the lease runs out. Returns how many events were released."""
    return await db.execute(
        """UPDATE events SET claimed_by = NULL, claim_until = NULL
            WHERE claimed_by = ? AND delivered_at IS NULL""",
        (bot_id,),
    )


async def mark_delivered(db: Database, event_id: int, message_id: int | None = None) -> bool:
    """Record delivery once; False if someone already delivered it."""
    changed = await db.execute(
        "UPDATE events SET delivered_at = ?, message_id = ? WHERE id = ? AND delivered_at IS NULL",
        (db.now(), message_id, event_id),
    )
    return changed == 1


async def for_job(db: Database, job_id: int, kind: EventKind | None = None) -> list[Event]:
    sql = "SELECT * FROM events WHERE job_id = ?"
    args: list[object] = [job_id]
    if kind is not None:
        sql += " AND kind = ?"
        args.append(kind.value)
    rows = await db.fetch_all(sql + " ORDER BY id", args)
    return [Event.from_row(r) for r in rows]
