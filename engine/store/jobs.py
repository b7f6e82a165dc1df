"""The job queue: enqueue, claim under a lease, heartbeat, finish, requeue the abandoned.

A job is never deleted when picked up: a claim sets ``running`` with a lease; the engine's
heartbeat extends it; a job whose lease ran out (its engine died) is queued again and
resumes from its last checkpoint, up to ``max_attempts`` claims.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import aiosqlite

from engine.store.database import Database, insert_returning_id
from engine.store.events import append_event
from engine.store.records import EventKind, Job, JobKind, JobState

# Generation is seconds of work that a person is waiting for; training is minutes that
# nobody watches step by step: generation always goes first.
PRIORITY = {JobKind.GENERATE: 10, JobKind.TRAIN: 0}

# Among queued jobs of the same priority, the owner served least recently goes first
# (never-served owners first), so one user queueing five trainings cannot starve others.
_NEXT_JOB = """
SELECT j.id FROM jobs AS j
WHERE j.state = 'queued' AND j.kind IN ({kinds})
ORDER BY j.priority DESC,
         (SELECT MAX(o.claimed_at) FROM jobs AS o
           WHERE o.owner_id = j.owner_id AND o.kind = j.kind) ASC NULLS FIRST,
         j.id ASC
LIMIT 1
"""


async def enqueue(
    db: Database,
    kind: JobKind,
    *,
    owner_id: int,
    params: dict[str, Any] | None = None,
    subject_id: int | None = None,
    guild_id: int | None = None,
    channel_id: int | None = None,
    total_steps: int = 0,
    max_attempts: int = 3,
    conn: aiosqlite.Connection | None = None,
) -> int:
    """Insert a queued job; pass ``conn`` to join a caller's transaction."""
    sql = """INSERT INTO jobs (kind, owner_id, guild_id, channel_id, subject_id, params,
                               priority, total_steps, max_attempts, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"""
    args = (
        kind.value,
        owner_id,
        guild_id,
        channel_id,
        subject_id,
        json.dumps(params or {}),
        PRIORITY[kind],
        total_steps,
        max_attempts,
        db.now(),
    )
    if conn is not None:
        return await insert_returning_id(conn, sql, args)
    async with db.transaction() as tx:
        return await insert_returning_id(tx, sql, args)


async def claim_next(
    db: Database,
    worker_id: str,
    lease_seconds: float,
    kinds: Iterable[JobKind] = (JobKind.GENERATE, JobKind.TRAIN),
) -> Job | None:
    """Atomically take the next job (after requeueing abandoned ones), or None."""
    kind_values = [k.value for k in kinds]
    placeholders = ",".join("?" * len(kind_values))
    now = db.now()
    async with db.transaction() as tx:
        await _requeue_expired(tx, now)
        sql = f"""UPDATE jobs SET state = 'running', attempts = attempts + 1,
                      worker_id = ?, lease_until = ?, claimed_at = ?,
                      started_at = COALESCE(started_at, ?)
                  WHERE id = ({_NEXT_JOB.format(kinds=placeholders)}) AND state = 'queued'
                  RETURNING *"""
        async with tx.execute(sql, (worker_id, now + lease_seconds, now, now, *kind_values)) as c:
            row = await c.fetchone()
        if row is None:
            return None
        job = Job.from_row(row)
        kind = EventKind.STARTED if job.attempts == 1 else EventKind.RETRYING
        await append_event(db, job.id, kind, {"attempt": job.attempts, "step": job.step}, conn=tx)
        return job


async def _requeue_expired(tx: aiosqlite.Connection, now: float) -> int:
    """Requeue (or fail, past max_attempts) running jobs whose lease has run out."""
    async with tx.execute(
        """UPDATE jobs SET state = 'failed', finished_at = ?, lease_until = NULL,
               error = 'The engine stopped ' || attempts || ' times while running this job.'
           WHERE state = 'running' AND lease_until < ? AND attempts >= max_attempts
           RETURNING id, error""",
        (now, now),
    ) as cursor:
        failed = list(await cursor.fetchall())
    for job_id, error in failed:
        await tx.execute(
            "INSERT INTO events (job_id, kind, payload, created_at) VALUES (?, ?, ?, ?)",
            (job_id, EventKind.FAILED.value, json.dumps({"error": error}), now),
        )
    async with tx.execute(
        """UPDATE jobs SET state = 'queued', worker_id = NULL, lease_until = NULL
           WHERE state = 'running' AND lease_until < ? RETURNING id""",
        (now,),
    ) as cursor:
        requeued = list(await cursor.fetchall())
    return len(failed) + len(requeued)


async def heartbeat(db: Database, job_id: int, worker_id: str, lease_seconds: float) -> Job | None:
    """Extend the lease; None means the job is no longer ours (requeued elsewhere, gone)."""
    async with (
        db.transaction() as tx,
        tx.execute(
            """UPDATE jobs SET lease_until = ? WHERE id = ? AND worker_id = ? AND state = 'running'
           RETURNING *""",
            (db.now() + lease_seconds, job_id, worker_id),
        ) as cursor,
    ):
        row = await cursor.fetchone()
    return Job.from_row(row) if row else None


async def record_progress(
    db: Database, job_id: int, step: int, total_steps: int, seconds_per_step: float | None
) -> None:
    await db.execute(
        "UPDATE jobs SET step = ?, total_steps = ?, seconds_per_step = ? WHERE id = ?",
        (step, total_steps, seconds_per_step, job_id),
    )


async def finish(
    db: Database,
    job_id: int,
    worker_id: str,
    state: JobState,
    *,
    error: str | None = None,
    conn: aiosqlite.Connection | None = None,
) -> bool:
    """Move our running job to a final state; False if it was not ours any more."""
    assert state.finished
    sql = """UPDATE jobs SET state = ?, finished_at = ?, lease_until = NULL, error = ?
             WHERE id = ? AND worker_id = ? AND state = 'running'"""
    args = (state.value, db.now(), error, job_id, worker_id)
    if conn is not None:
        async with conn.execute(sql, args) as cursor:
            return cursor.rowcount == 1
    return await db.execute(sql, args) == 1


async def release(db: Database, job_id: int, worker_id: str) -> bool:
    """Give a running job back to the queue on a clean shutdown: not a failed attempt."""
    changed = await db.execute(
        """UPDATE jobs SET state = 'queued', worker_id = NULL, lease_until = NULL,
               attempts = MAX(attempts - 1, 0)
           WHERE id = ? AND worker_id = ? AND state = 'running'""",
        (job_id, worker_id),
    )
    return changed == 1


async def cancel(db: Database, job_id: int) -> JobState | None:
    """Cancel a queued job now, or ask the engine to stop a running one.

    Returns the state after the call (``cancelled`` or still ``running`` with the request
    recorded), or None when the job is unknown or already finished."""
    async with db.transaction() as tx:
        async with tx.execute(
            """UPDATE jobs SET state = 'cancelled', finished_at = ?
               WHERE id = ? AND state = 'queued' RETURNING id""",
            (db.now(), job_id),
        ) as cursor:
            if await cursor.fetchone():
                await append_event(db, job_id, EventKind.CANCELLED, {}, conn=tx)
                return JobState.CANCELLED
        async with tx.execute(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running' RETURNING id",
            (job_id,),
        ) as cursor:
            return JobState.RUNNING if await cursor.fetchone() else None


async def get(db: Database, job_id: int) -> Job | None:
    row = await db.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
    return Job.from_row(row) if row else None


async def list_jobs(
    db: Database, *, owner_id: int | None = None, states: Iterable[JobState] | None = None
) -> list[Job]:
    clauses: list[str] = []
    args: list[object] = []
    if owner_id is not None:
        clauses.append("owner_id = ?")
        args.append(owner_id)
    if states is not None:
        values = [s.value for s in states]
        clauses.append(f"state IN ({','.join('?' * len(values))})")
        args.extend(values)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetch_all(f"SELECT * FROM jobs {where} ORDER BY id", args)
    return [Job.from_row(r) for r in rows]


async def queue_order(db: Database) -> list[Job]:
    """Queued jobs in the order the engine will claim them, simulating the round-robin."""
    pending = await list_jobs(db, states=[JobState.QUEUED])
    last_claim: dict[tuple[int, str], float] = {}
    for row in await db.fetch_all(
        "SELECT owner_id, kind, MAX(claimed_at) FROM jobs WHERE claimed_at IS NOT NULL "
        "GROUP BY owner_id, kind"
    ):
        last_claim[(row[0], row[1])] = row[2]
    order: list[Job] = []
    clock = db.now()
    while pending:
        nxt = min(
            pending,
            key=lambda j: (-j.priority, last_claim.get((j.owner_id, j.kind.value), -1.0), j.id),
        )
        pending.remove(nxt)
        order.append(nxt)
        clock += 1.0
        last_claim[(nxt.owner_id, nxt.kind.value)] = clock
    return order
