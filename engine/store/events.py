"""The outbox: the engine appends events, the bot delivers each exactly once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from engine.store.database import Database, Transaction
from engine.store.records import Event, EventKind


async def append_event_tx(
    tx: Transaction,
    job_id: int,
    kind: EventKind,
    payload: dict[str, Any] | None = None,
    files: Sequence[str] = (),
) -> int:
    """Append one event inside the caller's transaction (files: data-dir relative paths)."""
    return await tx.insert_returning_id(
        """INSERT INTO events (job_id, kind, payload, files, created_at)
           VALUES (?, ?, ?, ?, ?) RETURNING id""",
        (job_id, kind.value, json.dumps(payload or {}), json.dumps(list(files)), tx.now),
    )


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


async def has_step_event_tx(tx: Transaction, job_id: int, kind: EventKind, step: int) -> bool:
    """Whether the job already has a `kind` event for `step` (a resumed job redrawing it)."""
    row = await tx.fetch_one(
        """SELECT 1 FROM events WHERE job_id = ? AND kind = ?
               AND json_extract(payload, '$.step') = ? LIMIT 1""",
        (job_id, kind.value, step),
    )
    return row is not None


async def undelivered(db: Database, limit: int = 100) -> list[Event]:
    """Oldest first, so a job's messages arrive in the order they happened."""
    rows = await db.fetch_all(
        "SELECT * FROM events WHERE delivered_at IS NULL ORDER BY id LIMIT ?", (limit,)
    )
    return [Event.from_row(r) for r in rows]


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
