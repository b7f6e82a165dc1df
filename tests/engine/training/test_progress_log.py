"""The engine log's progress line: at every tenth of the run and at least once a minute,
with step/total, loss, seconds per step and ETA (real SQLite, no training)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from engine.job_control import JobControl
from engine.settings import Settings
from engine.store import Database, JobKind, jobs
from engine.training import progress as progress_module
from engine.training.progress import TrainingProgress


async def logged_steps(db: Database, settings: Settings, total: int, caplog) -> list[str]:
    """Run `total` steps' progress hooks on a thread, as the trainer does; the log lines."""
    await jobs.enqueue(db, JobKind.TRAIN, owner_id=7)
    job = await jobs.claim_next(db, "gpu-0", 60)
    assert job is not None
    progress = TrainingProgress(JobControl(asyncio.get_running_loop(), db, settings, job, "e"))

    def train() -> None:
        for step in range(1, total + 1):
            progress.on_progress(step, total, 0.125, 0.25)

    with caplog.at_level(logging.INFO, logger="engine.training.progress"):
        await asyncio.to_thread(train)
    return [r.getMessage() for r in caplog.records if r.name == "engine.training.progress"]


async def test_a_run_logs_its_first_step_then_every_tenth(
    db: Database, settings: Settings, caplog
) -> None:
    lines = await logged_steps(db, settings, 200, caplog)

    assert [int(line.split("step ")[1].split("/")[0]) for line in lines] == [
        1,
        *range(20, 201, 20),
    ]
    assert lines[0] == "job 1: step 1/200, loss 0.1250, 0.250 s/step, ETA 50 s"
    assert lines[-1] == "job 1: step 200/200, loss 0.1250, 0.250 s/step, ETA 0 s"


async def test_a_slow_run_logs_at_least_once_a_minute(
    db: Database, settings: Settings, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress_module, "LOG_AT_LEAST_EVERY_SECONDS", 0.0)  # every step is late

    lines = await logged_steps(db, settings, 5, caplog)

    assert len(lines) == 5
