"""Why a pet cannot draw yet, told as what its training is doing and how long it has left."""

from __future__ import annotations

from engine.orders.liveness import live_engines
from engine.orders.status import JobLine, build_status, duration
from engine.settings import Settings
from engine.store import Database, Subject, SubjectStatus

_PROGRESS = "/status shows its progress."


async def not_ready_reason(db: Database, settings: Settings, subject: Subject) -> str:
    """Why `subject` cannot draw yet: what its training is doing and how long it has left,
    or that no engine is running to do it. Plain text; `code` marks a command."""
    name = subject.name
    if subject.status is SubjectStatus.FAILED:
        return (
            f"{name} has no model: its training did not finish. `/forget` it, then /train it again."
        )
    line = await _training_line(db, subject)
    no_engine = not await live_engines(db, settings)
    if line is None:  # its job is between states this very moment
        return f"{name} is not trained yet: {_PROGRESS}"
    if line.state == "running":
        done = f"step {line.step}/{line.total_steps}"
        if no_engine:
            return (
                f"{name} is still training ({done}), but no engine is running right now: "
                f"it carries on when one starts. {_PROGRESS}"
            )
        return (
            f"{name} is still training ({done}, about {duration(line.eta_seconds)} left): "
            f"{_PROGRESS}"
        )
    if no_engine:
        return (
            f"{name} is queued for training, but no engine is running right now: its "
            f"training starts when one does. {_PROGRESS}"
        )
    return (
        f"{name} is queued for training (#{line.position} in the queue, ready in about "
        f"{duration(line.eta_seconds)}): {_PROGRESS}"
    )


async def _training_line(db: Database, subject: Subject) -> JobLine | None:
    report = await build_status(db, owner_id=subject.owner_id)
    waiting = ("queued", "running")
    return next(
        (
            line
            for line in report.jobs
            if line.subject_id == subject.id and line.kind == "train" and line.state in waiting
        ),
        None,
    )
