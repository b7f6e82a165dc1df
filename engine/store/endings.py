"""How a job ends: one function per way, each writing the job's state, its event and its
pet's status in ONE transaction, so no reader ever sees a failed job whose pet still says
"training", or a ready pet without its "done" message.

| ending     | job state   | event       | pet (train jobs only)     |
|------------|-------------|-------------|---------------------------|
| succeeded  | succeeded   | done        | ready, with its LoRA path |
|            |             |             | and recommended step      |
| failed     | failed      | failed      | failed                    |
| cancelled  | cancelled   | cancelled   | failed                    |
| released   | queued      | queued      | pending (waits its turn)  |

A growth (/grow: a training of a pet that already has a model) leaves its pet ready with
its old model until it succeeds; then the pet switches to the new one (``model_job_id``)
and forgets a step picked from the old training. Failed or cancelled, it drops the photos
it added.

A running job ends only for the engine that holds it (``engine_id``): after its lease ran
out and another engine claimed it, the first engine's ending changes nothing and returns
False, and the job's new holder reports. ``fail_tx`` and ``cancel_queued_tx`` join the
caller's transaction (the queue's reaper and /cancel use them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.store.database import JOBS_CHANNEL, Database, Transaction
from engine.store.events import append_event_tx
from engine.store.records import EventKind, JobKind, JobState, SubjectStatus
from engine.store.subjects import (
    adopt_model_tx,
    drop_grown_photos_tx,
    growing_tx,
    set_status_tx,
)


@dataclass(frozen=True)
class _Ending:
    state: JobState
    event: EventKind
    pet: SubjectStatus  # a training's pet; a picture job's pet is left as it is


_SUCCEEDED = _Ending(JobState.SUCCEEDED, EventKind.DONE, SubjectStatus.READY)
_FAILED = _Ending(JobState.FAILED, EventKind.FAILED, SubjectStatus.FAILED)
_CANCELLED = _Ending(JobState.CANCELLED, EventKind.CANCELLED, SubjectStatus.FAILED)
_CANCELLED_BY_REQUEST = "Cancelled by request."
_QUEUED = ("state = 'queued'", ())


def _running_on(engine_id: str | None) -> tuple[str, tuple[Any, ...]]:
    return "state = 'running' AND engine_id IS NOT DISTINCT FROM ?", (engine_id,)


async def _end_tx(
    tx: Transaction,
    job_id: int,
    ending: _Ending,
    guard: tuple[str, tuple[Any, ...]],
    payload: dict[str, Any],
    files: Sequence[str] = (),
    *,
    lora_path: str | None = None,
    recommended_step: int | None = None,
    error: str | None = None,
    seconds_per_step: float | None = None,
) -> bool:
    where, where_args = guard
    row = await tx.fetch_one(
        f"""UPDATE jobs SET state = ?, finished_at = ?, lease_until = NULL, error = ?,
                   seconds_per_step = COALESCE(?, seconds_per_step)
            WHERE id = ? AND {where} RETURNING kind, subject_id""",
        (ending.state.value, tx.now, error, seconds_per_step, job_id, *where_args),
    )
    if row is None:
        return False
    await append_event_tx(tx, job_id, ending.event, payload, files)
    if JobKind(row[0]) is JobKind.TRAIN and row[1] is not None:
        growing = await growing_tx(tx, row[1], job_id)
        if ending is _SUCCEEDED:  # recommended NULL when nothing was scored: the final step
            await adopt_model_tx(
                tx,
                row[1],
                job_id,
                lora_path=lora_path,
                recommended_step=recommended_step,
                keep_pick=not growing,
            )
        elif growing:  # the pet keeps drawing with its model; the growth's photos go
            await drop_grown_photos_tx(tx, job_id)
        else:
            await set_status_tx(tx, row[1], ending.pet)
    return True


async def succeed(
    db: Database,
    job_id: int,
    engine_id: str,
    payload: dict[str, Any],
    files: Sequence[str] = (),
    *,
    lora_path: str | None = None,
    recommended_step: int | None = None,
    seconds_per_step: float | None = None,
) -> bool:
    """Done: a training's pet becomes ready with ``lora_path`` and the step its scores
    recommend (None: the final step); pictures are in ``files``. ``seconds_per_step``: a
    picture job's measured speed (None: leave the column as it is)."""
    guard = _running_on(engine_id)
    async with db.transaction() as tx:
        return await _end_tx(
            tx,
            job_id,
            _SUCCEEDED,
            guard,
            payload,
            files,
            lora_path=lora_path,
            recommended_step=recommended_step,
            seconds_per_step=seconds_per_step,
        )


async def fail_tx(tx: Transaction, job_id: int, engine_id: str | None, error: str) -> bool:
    """``error`` is a sentence for the job's owner."""
    guard = _running_on(engine_id)
    return await _end_tx(tx, job_id, _FAILED, guard, {"error": error}, error=error)


async def fail(db: Database, job_id: int, engine_id: str, error: str) -> bool:
    async with db.transaction() as tx:
        return await fail_tx(tx, job_id, engine_id, error)


async def cancel_running_tx(tx: Transaction, job_id: int, engine_id: str, *, step: int) -> bool:
    """A running job its owner cancelled ends (at ``step``): stopped by its engine, or
    found by the reaper or a shutdown's release, whose requeue would start it again."""
    guard, payload = _running_on(engine_id), {"step": step}
    return await _end_tx(tx, job_id, _CANCELLED, guard, payload, error=_CANCELLED_BY_REQUEST)


async def cancel_running(db: Database, job_id: int, engine_id: str, *, step: int) -> bool:
    """The engine stopped a running job its owner cancelled (at ``step``)."""
    async with db.transaction() as tx:
        return await cancel_running_tx(tx, job_id, engine_id, step=step)


async def cancel_queued_tx(tx: Transaction, job_id: int) -> bool:
    """Cancel a job no engine has yet; False when it is not queued."""
    return await _end_tx(tx, job_id, _CANCELLED, _QUEUED, {}, error=_CANCELLED_BY_REQUEST)


async def release(db: Database, job_id: int, engine_id: str, *, step: int = 0) -> JobState | None:
    """Give a running job back to the queue on a clean shutdown, checkpointed at ``step``
    (``queued``). A shutdown is not a failed attempt: the claim's attempt is given back too.
    A job its owner cancelled meanwhile ends ``cancelled`` instead. None: not this engine's."""
    async with db.transaction() as tx:
        asked = await tx.fetch_one(
            "SELECT 1 FROM jobs WHERE id = ? AND engine_id = ? AND cancel_requested = 1",
            (job_id, engine_id),
        )
        if asked is not None:
            cancelled = await cancel_running_tx(tx, job_id, engine_id, step=step)
            return JobState.CANCELLED if cancelled else None
        row = await tx.fetch_one(
            """UPDATE jobs SET state = 'queued', engine_id = NULL, lease_until = NULL,
                   attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END
               WHERE id = ? AND state = 'running' AND engine_id = ?
               RETURNING kind, subject_id""",
            (job_id, engine_id),
        )
        if row is None:
            return None
        await append_event_tx(tx, job_id, EventKind.QUEUED, {"step": step})
        await tx.notify(JOBS_CHANNEL)
        training = JobKind(row[0]) is JobKind.TRAIN and row[1] is not None
        if training and not await growing_tx(tx, row[1], job_id):  # a growing pet stays ready
            await set_status_tx(tx, row[1], SubjectStatus.PENDING)
        return JobState.QUEUED
