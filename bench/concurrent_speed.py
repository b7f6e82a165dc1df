"""An /imagine served while a training runs on the same GPU, through the real engine.

    python bench/concurrent_speed.py                  # tiny SDXL, 64 px
    python bench/concurrent_speed.py --model full     # on a GPU: 1024 px training + picture

One engine trains a pet; once the training is `--at-step` steps in, a user's /imagine
(30 steps at the generation resolution, base model) is enqueued. The engine draws it between
two optimizer steps on the one resident pipeline. Reported: the wait from enqueue to the
finished picture, the training's median step, and the training's slowdown (the step gap that
held the picture, less a median step). Every step writes a progress event
(`progress_every_seconds=0`), so the gaps come from the store's own timestamps.
Results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import peak_rss_mib, peak_vram_gib, record
from bench.train_speed import model_dir
from engine.intake import Upload
from engine.logs import configure_logging
from engine.orders.enrolment import TrainingOrder, enrol_subject
from engine.orders.imagine import ImagineOrder, enqueue_imagine
from engine.process import Engine
from engine.settings import ScoringSettings, Settings
from engine.store import Database, EventKind, events, jobs
from tests.samples import jpeg


async def wait_for_step(db: Database, job_id: int, step: int) -> None:
    while True:
        job = await jobs.get(db, job_id)
        assert job is not None
        if job.step >= step or job.state.value not in ("queued", "running"):
            return
        await asyncio.sleep(0.02)


async def measure(settings: Settings, steps: int, at_step: int, image_steps: int) -> dict:
    async with await Database.open(settings.database_path) as db:
        resolution = settings.training.resolution
        uploads = [Upload(f"pet{i}.jpg", jpeg(i, (resolution, resolution))) for i in range(6)]
        order = TrainingOrder(1, "thor", "cat", overrides={"steps": steps})
        training = await enrol_subject(db, settings, order, uploads)
        engine = Engine(settings, db, "bench")
        running = asyncio.create_task(engine.run(until_idle=True))
        await wait_for_step(db, training.job_id, at_step)
        picture = await enqueue_imagine(
            db, settings, ImagineOrder(2, "a photo of a cat on a skateboard", steps=image_steps)
        )
        await running
        train_job = await jobs.get(db, training.job_id)
        picture_job = await jobs.get(db, picture.job_id)
        assert train_job is not None and train_job.state.value == "succeeded", train_job
        assert picture_job is not None and picture_job.state.value == "succeeded", picture_job
        done = (await events.for_job(db, picture_job.id, EventKind.DONE))[0].created_at
        progress = await events.for_job(db, train_job.id, EventKind.PROGRESS)
    at = {event.payload["step"]: event.created_at for event in progress}
    gaps = {step: at[step] - at[step - 1] for step in sorted(at) if step - 1 in at}
    # The picture is drawn after the step that was running when it was enqueued.
    held = max(gaps, key=lambda step: gaps[step])
    others = [gap for step, gap in gaps.items() if step != held and step > 2]  # past warm-up
    step_s = statistics.median(others)
    return {
        "wait s (enqueue→picture)": round(done - picture_job.created_at, 2),
        "training step s (median)": round(step_s, 3),
        "step gap holding the picture s": round(gaps[held], 2),
        "training slowdown s": round(gaps[held] - step_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--steps", type=int, default=None, help="training steps")
    parser.add_argument("--at-step", type=int, default=None, help="enqueue /imagine after it")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    full = args.model == "full"
    resolution, image_steps = (1024, 30) if full else (64, 4)
    steps = args.steps or (24 if full else 12)
    at_step = args.at_step or steps // 3

    configure_logging(logging.INFO)  # the engine's lines (its training plan) in the log
    import torch

    import engine.training  # noqa: F401  (a long-running engine has paid this import already)

    base = model_dir(args.model)
    settings = Settings(
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp(prefix="petbooth-concurrent-")),
        base_model=str(base),
        vae="",
        min_photo_side=64,
        progress_every_seconds=0,
        scoring=ScoringSettings(enabled=False),
        training={"resolution": resolution, "validation_prompts": [], "checkpoint_every": steps},
        generation={"resolution": resolution},
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    result = asyncio.run(measure(settings, steps, at_step, image_steps))
    row = {
        "model": args.model,
        "px": resolution,
        "training steps": steps,
        "picture steps": image_steps,
        **result,
        "process wall s": round(time.perf_counter() - began, 1),
        "peak RSS MiB": round(peak_rss_mib()),
        "peak VRAM GiB": peak_vram_gib(),
    }
    title = f"/imagine during a training: {args.model} SDXL, {resolution} px"
    record("concurrent_speed.py", title, row, sys.argv[1:], write=not args.no_write)


if __name__ == "__main__":
    main()
