"""A training claimed by an engine, for tests of what runs under a claim (its store calls,
its progress events) without running the engine."""

from __future__ import annotations

import asyncio

from engine.job_control import JobControl
from engine.settings import Settings
from engine.store import Database, JobKind, jobs, subjects


async def claimed_control(db: Database, settings: Settings) -> JobControl:
    """Job 1, a training of thor (owner 7), claimed by the engine "gpu-0"."""
    async with db.transaction() as tx:
        pet = await subjects.create_tx(tx, owner_id=7, name="thor", class_noun="cat")
        await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=7, subject_id=pet.id)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    return JobControl(asyncio.get_running_loop(), db, settings, job, "gpu-0")
