"""A training's checkpoint and preview uploads run off the training thread, in order, each
before its event; a failed upload fails the attempt; the job's end waits for them all
(real SQLite, a store in another folder whose uploads the test holds back)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.settings import Settings
from engine.storage import open_storage
from engine.storage.local import LocalStorage
from engine.store import Database, EventKind, events, jobs
from engine.training.progress import TrainingProgress
from engine.training.uploads import UploadQueue
from tests.engine._claimed import claimed_control
from tests.samples import scene

WAIT_S = 10.0


def test_inline_work_runs_at_once() -> None:
    done: list[int] = []
    queue = UploadQueue(inline=True)
    queue.submit(lambda: done.append(1))
    assert done == [1] and queue.waiting == 0


def test_queued_work_runs_in_order_and_flush_waits_for_it() -> None:
    gate, done = threading.Event(), []
    queue = UploadQueue(inline=False)
    queue.submit(lambda: (gate.wait(WAIT_S), done.append(1)))
    queue.submit(lambda: done.append(2))
    assert done == [] and queue.waiting == 2  # submit returned with the work still queued
    gate.set()
    queue.flush()
    assert done == [1, 2] and queue.waiting == 0


def test_a_failure_is_raised_and_the_work_behind_it_is_dropped() -> None:
    gate, done = threading.Event(), []

    def fails() -> None:
        gate.wait(WAIT_S)
        raise OSError("bucket unreachable")

    queue = UploadQueue(inline=False)
    queue.submit(fails)
    queue.submit(lambda: done.append("after"))
    gate.set()
    with pytest.raises(OSError, match="bucket unreachable"):
        queue.flush()
    assert done == []  # its event would name files that storage may not hold
    with pytest.raises(OSError, match="bucket unreachable"):
        queue.submit(lambda: done.append("later"))  # the queue takes no more work
    assert done == []


def test_settle_logs_a_failure_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    queue = UploadQueue(inline=False)
    queue.submit(lambda: (_ for _ in ()).throw(OSError("bucket unreachable")))
    with caplog.at_level(logging.ERROR):
        queue.settle()
    assert "an upload failed: bucket unreachable" in caplog.text


class HeldUploads:
    """LocalStorage.put_file, held until `release` (the network of a slow object store)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()  # an upload is waiting at the gate
        self.keys: list[str] = []
        self.fail_on: str | None = None
        put_file = LocalStorage.put_file

        def held(storage: LocalStorage, key: str, path: Path) -> None:
            self.entered.set()
            self.gate.wait(WAIT_S)
            if self.fail_on and key.endswith(self.fail_on):
                raise OSError(f"upload of {key} refused")
            put_file(storage, key, path)
            self.keys.append(key)

        monkeypatch.setattr(LocalStorage, "put_file", held)

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", storage=str(tmp_path / "shared"), _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldUploads]:
    uploads = HeldUploads(monkeypatch)
    yield uploads
    uploads.release()  # never leave the worker waiting


async def claimed_training(db: Database, settings: Settings) -> TrainingProgress:
    return TrainingProgress(await claimed_control(db, settings))


def checkpoint(settings: Settings, step: int) -> Path:
    """What the trainer leaves at a checkpoint (the files' contents do not matter here)."""
    path = settings.job_dir(1) / "checkpoints" / f"step-{step:06d}"
    path.mkdir(parents=True)
    for name in ("pytorch_lora_weights.safetensors", "optimizer.pt", "rng.pt", "state.json"):
        (path / name).write_bytes(name.encode())
    return path


def preview(settings: Settings, step: int) -> Path:
    grid = settings.job_dir(1) / "previews" / f"step-{step:06d}.png"
    grid.with_suffix("").mkdir(parents=True)
    scene(1, (64, 64)).save(grid.with_suffix("") / "0.png")
    scene(2, (64, 64)).save(grid)
    return grid


async def kinds(db: Database) -> list[EventKind]:
    """The job's checkpoint and preview events, in order."""
    shown = (EventKind.CHECKPOINT, EventKind.PREVIEW)
    return [event.kind for event in await events.for_job(db, 1) if event.kind in shown]


async def test_the_trainer_goes_on_while_its_checkpoint_uploads(
    db: Database, settings: Settings, held: HeldUploads
) -> None:
    progress = await claimed_training(db, settings)
    # The training thread hands both over and returns at once, the uploads held back.
    await asyncio.wait_for(
        asyncio.to_thread(progress.on_checkpoint, 2, checkpoint(settings, 2)), WAIT_S / 2
    )
    await asyncio.to_thread(progress.on_preview, 2, preview(settings, 2))
    assert await kinds(db) == []  # no event names a file that storage does not hold yet
    held.release()
    await asyncio.to_thread(progress.flush_uploads)
    assert await kinds(db) == [EventKind.CHECKPOINT, EventKind.PREVIEW]
    assert held.keys[3].endswith("step-000002/state.json")  # the checkpoint's last file
    assert held.keys[-1].endswith("previews/step-000002.png")  # the grid after its images
    shared = open_storage(settings)
    assert shared.exists("jobs/1/checkpoints/step-000002/optimizer.pt")


async def test_a_checkpoint_pruned_while_queued_uploads_its_lora_and_says_uploads_lag(
    db: Database, settings: Settings, held: HeldUploads, caplog: pytest.LogCaptureFixture
) -> None:
    progress = await claimed_training(db, settings)
    path = checkpoint(settings, 2)
    await asyncio.to_thread(progress.on_checkpoint, 2, path)
    assert await asyncio.to_thread(held.entered.wait, WAIT_S)  # its files listed, one held
    (path / "optimizer.pt").unlink()  # as if the next checkpoint had pruned it already
    (path / "rng.pt").unlink()
    held.release()
    with caplog.at_level(logging.WARNING, logger="engine.training.progress"):
        await asyncio.to_thread(progress.flush_uploads)
    assert "uploads are falling behind the training" in caplog.text
    shared = open_storage(settings)
    assert shared.exists("jobs/1/checkpoints/step-000002/state.json")
    assert not shared.exists("jobs/1/checkpoints/step-000002/optimizer.pt")
    assert await kinds(db) == [EventKind.CHECKPOINT]


async def test_a_checkpoint_left_unsent_by_a_killed_engine_is_sent_on_resume(
    db: Database, settings: Settings, held: HeldUploads
) -> None:
    held.release()
    control = await claimed_control(db, settings)
    first = TrainingProgress(control)
    await asyncio.to_thread(first.on_checkpoint, 2, checkpoint(settings, 2))
    await asyncio.to_thread(first.flush_uploads)
    checkpoint(settings, 4)  # saved, its upload queued, then the engine was killed
    (settings.job_dir(1) / "checkpoints" / ".tmp-step-000006-123").mkdir()  # a killed write

    resumed = TrainingProgress(control)  # the next attempt's
    await resumed.announce_saved_checkpoints(settings.job_dir(1))
    await asyncio.to_thread(resumed.flush_uploads)

    shown = await events.for_job(db, 1, EventKind.CHECKPOINT)
    assert [event.payload["step"] for event in shown] == [2, 4]
    assert open_storage(settings).exists("jobs/1/checkpoints/step-000004/optimizer.pt")
    assert held.keys.count("jobs/1/checkpoints/step-000002/state.json") == 1  # not again


async def test_the_training_waits_before_uploads_fall_behind_its_pruning(
    db: Database, tmp_path: Path, held: HeldUploads, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        storage=str(tmp_path / "shared"),
        training={"keep_checkpoints": 2},  # the next checkpoint prunes all but two
    )
    progress = await claimed_training(db, settings)
    await asyncio.to_thread(progress.on_checkpoint, 2, checkpoint(settings, 2))  # 1 behind
    third = asyncio.ensure_future(
        asyncio.to_thread(progress.on_checkpoint, 4, checkpoint(settings, 4))
    )
    await asyncio.sleep(0.3)
    assert not third.done()  # 2 behind: step 2's optimizer state would be pruned unsent
    with caplog.at_level(logging.INFO, logger="engine.training.progress"):
        held.release()
        await asyncio.wait_for(third, WAIT_S)
    assert "training waited" in caplog.text and "for 1 uploads" in caplog.text
    await asyncio.to_thread(progress.flush_uploads)
    assert open_storage(settings).exists("jobs/1/checkpoints/step-000002/optimizer.pt")


async def test_a_failed_upload_fails_the_training_at_its_next_step(
    db: Database, settings: Settings, held: HeldUploads
) -> None:
    progress = await claimed_training(db, settings)
    held.fail_on = "optimizer.pt"
    await asyncio.to_thread(progress.on_checkpoint, 2, checkpoint(settings, 2))
    held.release()
    with pytest.raises(OSError, match=r"optimizer\.pt refused"):
        for _ in range(int(WAIT_S / 0.01)):  # the trainer's next steps
            await asyncio.to_thread(progress.between_steps)
            await asyncio.sleep(0.01)
    assert await kinds(db) == []  # the checkpoint is not announced: storage lacks a file


async def test_a_cancel_after_a_failed_upload_still_stops_the_training_as_asked(
    db: Database, settings: Settings, held: HeldUploads, caplog: pytest.LogCaptureFixture
) -> None:
    control = await claimed_control(db, settings)
    progress = TrainingProgress(control)
    held.fail_on = "optimizer.pt"
    await asyncio.to_thread(progress.on_checkpoint, 2, checkpoint(settings, 2))
    control.request_stop("cancel")  # asked while the upload was on its way
    held.release()

    with caplog.at_level(logging.WARNING):
        for _ in range(20):  # steps until the stop takes effect: none raises
            await asyncio.to_thread(progress.between_steps)
            await asyncio.sleep(0.01)
        await asyncio.to_thread(progress.settle_uploads)  # the upload has failed by now
        await asyncio.to_thread(progress.on_checkpoint, 3, checkpoint(settings, 3))

    assert "an upload failed: upload of jobs/1/checkpoints/step-000002/optimizer.pt" in caplog.text
    assert "checkpoint of step 3 stays on this disk only" in caplog.text


async def test_an_engine_that_lost_the_job_reports_nothing_more(
    db: Database, settings: Settings, held: HeldUploads
) -> None:
    held.release()
    every_step = settings.model_copy(update={"progress_every_seconds": 0})
    progress = await claimed_training(db, every_step)
    await asyncio.to_thread(progress.on_progress, 1, 10, 0.5, 1.0)
    await db.execute("UPDATE jobs SET engine_id = 'gpu-1' WHERE id = 1")  # lease lost; retaken

    await asyncio.to_thread(progress.on_progress, 2, 10, 0.5, 1.0)
    await asyncio.to_thread(progress.on_checkpoint, 2, checkpoint(settings, 2))
    await asyncio.to_thread(progress.on_preview, 2, preview(settings, 2))
    await asyncio.to_thread(progress.flush_uploads)

    reported = [
        (e.kind, e.payload.get("step"))
        for e in await events.for_job(db, 1)
        if e.kind is not EventKind.STARTED
    ]
    assert reported == [(EventKind.PROGRESS, 1)]  # gpu-1 reports from now on
    job = await jobs.get(db, 1)
    assert job is not None and job.step == 1
