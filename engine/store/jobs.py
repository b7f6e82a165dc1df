"""The job queue: enqueue, claim under a lease, heartbeat, requeue the abandoned.

A job is never deleted when picked up: a claim sets ``running`` with a lease; the engine's
heartbeat extends it; a job whose lease ran out (its engine died) is queued again and
resumes from its last checkpoint, up to ``max_attempts`` claims. How a job ends (succeeded,
failed, cancelled, released) is ``store.endings``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from engine.store import endings
from engine.store.database import JOBS_CHANNEL, Database, Transaction
from engine.store.events import append_event_tx
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

# PostgreSQL: the same order, from owner_last_claims (one row per owner and kind, kept by
# the claim) instead of a MAX per candidate row: one index probe per queued job.
_NEXT_JOB_POSTGRES = """
SELECT j.id FROM jobs AS j
LEFT JOIN owner_last_claims AS o ON o.owner_id = j.owner_id AND o.kind = j.kind
WHERE j.state = 'queued' AND j.kind IN ({kinds})
ORDER BY j.priority DESC, o.served ASC NULLS FIRST, j.id ASC
LIMIT 1
FOR UPDATE OF j SKIP LOCKED
"""
_SERVED = """
INSERT INTO owner_last_claims (owner_id, kind, served) VALUES (?, ?, nextval('claim_order'))
ON CONFLICT (owner_id, kind) DO UPDATE SET served = excluded.served
"""


async def enqueue_tx(
    tx: Transaction,
    kind: JobKind,
    *,
    owner_id: int,
    params: dict[str, Any] | None = None,
    subject_id: int | None = None,
    guild_id: int | None = None,
    channel_id: int | None = None,
    total_steps: int = 0,
    max_attempts: int = 3,
) -> int:
    """Insert a queued job inside the caller's transaction (with its subject, its limits)."""
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
        tx.now,
    )
    job_id = await tx.insert_returning_id(sql, args)
    await tx.notify(JOBS_CHANNEL)  # idle engines wake now rather than at their next poll
    return job_id


async def enqueue(db: Database, kind: JobKind, *, owner_id: int, **fields: Any) -> int:
    """``enqueue_tx`` in a transaction of its own."""
    async with db.transaction() as tx:
        return await enqueue_tx(tx, kind, owner_id=owner_id, **fields)


async def claim_next(
    db: Database,
    engine_id: str,
    lease_seconds: float,
    kinds: Iterable[JobKind] = (JobKind.GENERATE, JobKind.TRAIN),
) -> Job | None:
    """Atomically take the next job, or None. On SQLite the claim first requeues abandoned
    jobs (one writer at a time: it costs nothing); on PostgreSQL ``requeue_expired`` is the
    engines' periodic reaper, and the claim is one ``UPDATE ... WHERE id = (SELECT ... FOR
    UPDATE SKIP LOCKED) RETURNING *``."""
    kind_values = [k.value for k in kinds]
    placeholders = ",".join("?" * len(kind_values))
    async with db.transaction() as tx:
        now = tx.now
        if tx.dialect == "sqlite":
            await _requeue_expired(tx)
            next_job = _NEXT_JOB.format(kinds=placeholders)
        else:
            # Claims one at a time, as on SQLite: the fairness order is exact (claims are
            # milliseconds, jobs minutes). SKIP LOCKED still keeps a claim from waiting on a
            # queued row that a cancel or a /forget is changing.
            await tx.lock("claim", 0)
            next_job = _NEXT_JOB_POSTGRES.format(kinds=placeholders)
        sql = f"""UPDATE jobs SET state = 'running', attempts = attempts + 1,
                      engine_id = ?, lease_until = ?, claimed_at = ?,
                      started_at = COALESCE(started_at, ?)
                  WHERE id = ({next_job}) AND state = 'queued'
                  RETURNING *"""
        row = await tx.fetch_one(sql, (engine_id, now + lease_seconds, now, now, *kind_values))
        if row is None:
            return None
        job = Job.from_row(row)
        if tx.dialect == "postgres":
            await tx.execute(_SERVED, (job.owner_id, job.kind.value))
        kind = EventKind.STARTED if job.attempts == 1 else EventKind.RETRYING
        await append_event_tx(tx, job.id, kind, {"attempt": job.attempts, "step": job.step})
        return job


async def requeue_expired(db: Database) -> int:
    """The reaper: requeue (or fail, past max_attempts) running jobs whose lease ran out.
    Engines call it every few seconds; returns how many jobs it settled."""
    async with db.transaction() as tx:
        return await _requeue_expired(tx)


async def _requeue_expired(tx: Transaction) -> int:
    """Requeue running jobs whose lease has run out, fail those past max_attempts, and
    end those their owners cancelled as cancelled."""
    skip_locked = " FOR UPDATE SKIP LOCKED" if tx.dialect == "postgres" else ""
    expired = await tx.fetch_all(
        "SELECT id, engine_id, attempts, attempts >= max_attempts, cancel_requested, step "
        "FROM jobs WHERE state = 'running' AND lease_until < ?" + skip_locked,
        (tx.now,),
    )
    requeued = 0
    for job_id, engine_id, attempts, spent, cancel_requested, step in expired:
        if cancel_requested:  # its owner cancelled it: no new attempt to stop at once
            await endings.cancel_running_tx(tx, job_id, engine_id, step=step)
        elif spent:
            error = f"The engine stopped {attempts} times while running this job."
            await endings.fail_tx(tx, job_id, engine_id, error)
        else:  # the attempt stays spent; the claim's "retrying" event tells the owner
            requeued += await tx.rowcount(
                """UPDATE jobs SET state = 'queued', engine_id = NULL, lease_until = NULL
                   WHERE id = ? AND state = 'running'""",
                (job_id,),
            )
    if requeued:
        await tx.notify(JOBS_CHANNEL)
    return len(expired)


async def heartbeat(db: Database, job_id: int, engine_id: str, lease_seconds: float) -> Job | None:
    """Extend the lease; None means the job is no longer ours (requeued elsewhere, gone)."""
    async with db.transaction() as tx:
        row = await tx.fetch_one(
            """UPDATE jobs SET lease_until = ? WHERE id = ? AND engine_id = ? AND state = 'running'
               RETURNING *""",
            (tx.now + lease_seconds, job_id, engine_id),
        )
    return Job.from_row(row) if row else None


async def existing_ids(db: Database, job_ids: list[int]) -> list[int]:
    """Those of `job_ids` that are jobs now."""
    if not job_ids:
        return []
    marks = ",".join("?" * len(job_ids))
    rows = await db.fetch_all(f"SELECT id FROM jobs WHERE id IN ({marks})", job_ids)
    return [int(row[0]) for row in rows]


async def running_on(db: Database, engine_id: str, claimed_since: float) -> list[Job]:
    """Jobs running under `engine_id`'s claim, claimed at `claimed_since` or later."""
    rows = await db.fetch_all(
        "SELECT * FROM jobs WHERE engine_id = ? AND state = 'running' AND claimed_at >= ? "
        "ORDER BY id",
        (engine_id, claimed_since),
    )
    return [Job.from_row(r) for r in rows]


async def held_by_tx(tx: Transaction, job_id: int, engine_id: str) -> bool:
    """Whether `engine_id` still runs the job: an engine whose lease ran out (the job
    requeued, reclaimed or ended since) must not report on it any more."""
    row = await tx.fetch_one(
        "SELECT 1 FROM jobs WHERE id = ? AND engine_id = ? AND state = 'running'",
        (job_id, engine_id),
    )
    return row is not None


async def record_progress_tx(
    tx: Transaction, job_id: int, step: int, total_steps: int, seconds_per_step: float | None
) -> None:
    await tx.execute(
        "UPDATE jobs SET step = ?, total_steps = ?, seconds_per_step = ? WHERE id = ?",
        (step, total_steps, seconds_per_step, job_id),
    )


async def cancel(db: Database, job_id: int) -> JobState | None:
    """Cancel a queued job now, or ask the engine to stop a running one.

    Returns the state after the call (``cancelled`` or still ``running`` with the request
    recorded), or None when the job is unknown or already finished."""
    async with db.transaction() as tx:
        if await endings.cancel_queued_tx(tx, job_id):
            return JobState.CANCELLED
        asked = await tx.rowcount(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state = 'running'", (job_id,)
        )
        return JobState.RUNNING if asked else None


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
    clock = max([await db.current_time(), *last_claim.values()])
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
