"""Checkpoint scores: one row per (training job, checkpoint step), written by the engine
together with the checkpoint's preview event, read by the ready message and `petbooth eval`."""

from __future__ import annotations

from engine.store.database import Database, Transaction
from engine.store.records import CheckpointScore, JobKind


async def record_tx(
    tx: Transaction,
    job_id: int,
    step: int,
    *,
    identity: float,
    clip_image: float,
    clip_text: float,
) -> None:
    """Store a checkpoint's scores; scoring the same step again (a resumed job redrew its
    previews) replaces them, so the row always describes the previews on disk."""
    await tx.execute(
        """INSERT INTO checkpoint_scores (job_id, step, identity, clip_image, clip_text,
                                          created_at)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (job_id, step) DO UPDATE SET identity = excluded.identity,
               clip_image = excluded.clip_image, clip_text = excluded.clip_text,
               created_at = excluded.created_at""",
        (job_id, step, identity, clip_image, clip_text, tx.now),
    )


async def get(db: Database, job_id: int, step: int) -> CheckpointScore | None:
    row = await db.fetch_one(
        "SELECT * FROM checkpoint_scores WHERE job_id = ? AND step = ?", (job_id, step)
    )
    return CheckpointScore.from_row(row) if row else None


async def for_job(db: Database, job_id: int) -> list[CheckpointScore]:
    """Every scored checkpoint of a job, by step."""
    rows = await db.fetch_all(
        "SELECT * FROM checkpoint_scores WHERE job_id = ? ORDER BY step", (job_id,)
    )
    return [CheckpointScore.from_row(r) for r in rows]


async def latest_training(db: Database, subject_id: int) -> int | None:
    """The id of the subject's latest training job (the one its model comes from)."""
    row = await db.fetch_one(
        "SELECT id FROM jobs WHERE subject_id = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        (subject_id, JobKind.TRAIN.value),
    )
    return int(row[0]) if row else None
