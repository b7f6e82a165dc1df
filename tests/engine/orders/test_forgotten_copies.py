"""A forgotten pet's folders leave every process's cache of shared storage: the ones named
by /forget go, everything else stays, including a folder whose job id a new job took."""

from __future__ import annotations

import math
from pathlib import Path

from engine.orders.forgotten_copies import drop_forgotten
from engine.settings import Settings
from engine.store import Database, JobKind, jobs, subjects


async def test_the_named_folders_go_and_a_reused_job_folder_stays(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        storage=str(tmp_path / "shared"),  # the data dir is only this machine's cache
        _env_file=None,  # type: ignore[call-arg]
    )
    async with await Database.open(settings.database_path) as db:
        async with db.transaction() as tx:
            pet = await subjects.create_tx(tx, owner_id=7, name="thor", class_noun="cat")
            gone = await jobs.enqueue_tx(tx, JobKind.TRAIN, owner_id=7, subject_id=pet.id)
        folders = [f"jobs/{gone}", f"outputs/{gone}", "subjects/7-0a1b2c", "jobs"]
        await subjects.delete(db, pet.id, folders)
        reused = await jobs.enqueue(db, JobKind.GENERATE, owner_id=8)  # SQLite: the same id
        cached = {
            key: settings.data_dir / key / "file"
            for key in [f"jobs/{reused}", "subjects/7-0a1b2c", "subjects/8-ffffff", "jobs/77"]
        }
        for path in cached.values():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"cached")

        since = await drop_forgotten(db, settings, -math.inf)
        again = await drop_forgotten(db, settings, since)  # looks overlap: harmless

    assert math.isfinite(since) and again == since
    assert not cached["subjects/7-0a1b2c"].exists()
    assert reused == gone and cached[f"jobs/{reused}"].exists()  # the new job's, not thor's
    assert cached["subjects/8-ffffff"].exists() and cached["jobs/77"].exists()
