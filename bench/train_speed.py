"""Training speed and memory, through the real engine (claim -> cache -> fit -> saved LoRA).

    python bench/train_speed.py                      # tiny SDXL on this machine (CPU or GPU)
    python bench/train_speed.py --model full --resolution 1024 --steps 500   # on a GPU

`--model full` builds full-size SDXL from its configs with random weights (same shapes, so
the same speed and memory as real weights), saves it once under bench/.cache, and loads it
through the same `from_pretrained` path as real weights. Results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import peak_rss_mib, peak_vram_gib, record
from engine.intake import Upload
from engine.logs import configure_logging
from engine.orders.enrolment import TrainingOrder, enrol_subject
from engine.process import Engine
from engine.settings import ScoringSettings, Settings
from engine.store import Database, EventKind, events, jobs
from tests.samples import jpeg

CACHE = Path(__file__).resolve().parent / ".cache"


def model_dir(kind: str) -> Path:
    import torch

    if kind == "tiny":
        from engine.models.tiny import build_tiny_sdxl

        return build_tiny_sdxl(Path(tempfile.mkdtemp()) / "tiny")
    target = CACHE / "sdxl-random-fp16"
    if not (target / "model_index.json").exists():
        from bench.score_speed import build_full_size_scorers
        from engine.models.full_size import build_full_size_sdxl

        print("building full-size random SDXL and scorers (once)...", flush=True)
        device = "cuda" if torch.cuda.is_available() else "cpu"  # seconds on a GPU
        build_full_size_sdxl(dtype=torch.float16, device=device).save_pretrained(target)
        build_full_size_scorers(target / "scorers")  # the default scorers' shapes: scored
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return target


async def run_job(settings: Settings, photos: int, overrides: dict) -> dict[str, float]:
    async with await Database.open(settings.database_path) as db:
        uploads = [Upload(f"pet{i}.jpg", jpeg(i, (1024, 1024))) for i in range(photos)]
        enrolled = await enrol_subject(
            db, settings, TrainingOrder(1, "thor", "cat", overrides=overrides), uploads
        )
        await Engine(settings, db, "bench").run(until_idle=True)
        job = await jobs.get(db, enrolled.job_id)
        assert job is not None and job.state.value == "succeeded", job
        started = (await events.for_job(db, job.id, EventKind.STARTED))[0].created_at
        done = (await events.for_job(db, job.id, EventKind.DONE))[0].created_at
        return {
            "seconds_per_step": job.seconds_per_step or float("nan"),
            "claim_to_lora_s": done - started,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--checkpointing", choices=["auto", "on", "off"], default="auto")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--no-previews", action="store_true", help="no previews, no scoring")
    parser.add_argument(
        "--compile-blocks", action="store_true", help="training.compile_blocks (regional)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    resolution = args.resolution or (1024 if args.model == "full" else 64)
    steps = args.steps or (500 if args.model == "full" else 20)

    configure_logging(logging.INFO)  # the engine's lines (its training plan) in the log
    plan = PlanLine()
    logging.getLogger("engine.training.fit").addHandler(plan)
    import torch

    import engine.training  # noqa: F401  (a long-running engine has paid this import already)

    base = model_dir(args.model)
    data = Path(tempfile.mkdtemp(prefix="petbooth-bench-"))
    training: dict[str, object] = {"gradient_checkpointing": args.checkpointing}
    if args.no_previews:
        training["validation_prompts"] = []
    if args.compile_blocks:
        training["compile_blocks"] = True
    scorers = base / "scorers"  # random weights of the default scorers' shapes
    settings = Settings(
        data_dir=data,
        base_model=str(base),
        vae="",
        min_photo_side=64,
        progress_every_seconds=5.0,
        training=training,
        scoring=ScoringSettings(
            enabled=scorers.is_dir(),
            identity_model=str(scorers / "identity"),
            prompt_model=str(scorers / "prompt"),
        ),
        _env_file=None,
    )
    overrides = {"steps": steps, "resolution": resolution}
    overrides["checkpoint_every"] = args.checkpoint_every
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    result = asyncio.run(run_job(settings, args.photos, overrides))
    row = {
        "model": args.model,
        "resolution": resolution,
        "steps": steps,
        "grad checkpointing": settings.training.gradient_checkpointing,
        "compiled blocks": settings.training.compile_blocks,
        "checkpoints": steps // args.checkpoint_every,
        "previews per checkpoint": len(settings.training.validation_prompts),
        "scored": settings.scoring.enabled and bool(settings.training.validation_prompts),
        "ms/step": round(result["seconds_per_step"] * 1000, 1),
        "claim→LoRA s": round(result["claim_to_lora_s"], 1),
        "process wall s": round(time.perf_counter() - began, 1),
        "peak RSS MiB": round(peak_rss_mib()),
        "peak VRAM GiB": peak_vram_gib(),
    }
    title = f"Training: {args.model} SDXL, {resolution} px, {steps} steps"
    if plan.lines:
        title += f" (plan: {plan.lines[-1]})"
    record("train_speed.py", title, row, sys.argv[1:], write=not args.no_write)


class PlanLine(logging.Handler):
    """Keeps what the engine's "training plan on <device>: ..." log line says."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("training plan on "):
            self.lines.append(message.split(": ", 1)[1])


if __name__ == "__main__":
    main()
