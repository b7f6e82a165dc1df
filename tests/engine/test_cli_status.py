"""`petbooth status`'s ENGINES section: the same words as /status (engine.orders.status
`engine_state`) for live engines, silent ones and finished jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.cli import main
from engine.settings import Settings
from engine.store import Database, JobKind, endings, engines, jobs


async def two_engines_one_killed(settings: Settings) -> int:
    """gpu-0 was SIGKILLed 45 s ago while on a job that gpu-1 then claimed and finished."""
    async with await Database.open(settings.database_path) as db:
        job_id = await jobs.enqueue(db, JobKind.TRAIN, owner_id=0)
        assert await jobs.claim_next(db, "gpu-1", 60) is not None
        await engines.beat(db, "gpu-0", pid=1, device="cuda:0", job_id=job_id)
        await db.execute(
            "UPDATE engines SET heartbeat_at = ? WHERE engine_id = 'gpu-0'", (db.now() - 45,)
        )
        await engines.beat(db, "gpu-1", pid=2, device="cuda:1", job_id=job_id)
        assert await endings.succeed(db, job_id, "gpu-1", {})
        return job_id


def test_status_lists_silent_engines_as_not_heard_from_without_finished_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("PETBOOTH_DATA_DIR", str(tmp_path / "data"))
    asyncio.run(two_engines_one_killed(Settings()))

    assert main(["status"]) == 0

    out = capsys.readouterr().out
    assert out.split("ENGINES\n")[1].splitlines() == [
        "  gpu-1 on cuda:1: heartbeat 0 s ago, idle",
        "  gpu-0 on cuda:0: not heard from for 45 s",
    ]


def test_status_says_none_running_without_engines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PETBOOTH_DATA_DIR", str(tmp_path / "data"))

    assert main(["status"]) == 0

    assert capsys.readouterr().out.endswith("ENGINES\n  none running\n")
