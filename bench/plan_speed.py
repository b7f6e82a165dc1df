"""What each training plan costs on this device, for the memory planner: step time and peak
memory for every micro-batch x gradient-checkpointing split of the effective batch, with the
pipeline resident (as the engine holds it), then the fastest two plans again with the UNet in
channels-last memory format (what `generation.channels_last` gives trainings on CUDA, since
they share the UNet). Also: moving the text encoders and VAE between the CPU and the device
(a small memory plan parks them), the VAE's decode, and /imagine with the UNet contiguous
and in channels-last.

    python bench/plan_speed.py                 # tiny SDXL, 64 px
    python bench/plan_speed.py --model full    # on a GPU: 1024 px

One process, one pipeline load; each plan trains `--steps` optimizer steps through the
engine's own `train_lora` (no previews) and reports the median step after the first two.
Results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench.generate_speed import square_request, timed
from bench.report import append_section
from bench.train_speed import model_dir
from engine.generation.resident import ResidentPipeline
from engine.settings import Settings, TrainingDefaults
from engine.training import train_lora
from engine.training.request import NullHooks, TrainingOutOfMemory, TrainRequest
from tests.samples import write_photos

GIB = 2**30


class StepClock(NullHooks):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_progress(self, step: int, total: int, loss: float, seconds_per_step: float) -> None:
        self.times.append(time.perf_counter())

    def median_step(self) -> float:
        gaps = [b - a for a, b in zip(self.times, self.times[1:], strict=False)]
        return statistics.median(gaps[2:] or gaps)


def cuda() -> bool:
    return torch.cuda.is_available()


def allocated_gib() -> float | str:
    return round(torch.cuda.memory_allocated() / GIB, 2) if cuda() else "-"


def train_plan(
    resident: ResidentPipeline,
    root: Path,
    resolution: int,
    micro: int,
    checkpointing: str,
    steps: int,
    layout: str = "contiguous",
) -> dict[str, object]:
    config = TrainingDefaults(
        resolution=resolution,
        steps=steps,
        checkpoint_every=steps,
        validation_prompts=(),
        micro_batch=micro,
        gradient_checkpointing=checkpointing,
    )
    request = TrainRequest(
        job_dir=root / f"plan-{micro}-{checkpointing}-{layout}",
        photo_paths=write_photos(root / "photos", 4, size=resolution),
        token="ohwx",
        class_noun="cat",
        config=config,
        base_model=resident.settings.base_model,
        vae=None,
        device=resident.settings.device,
        priors_dir=root / "priors",
    )
    clock = StepClock()
    if cuda():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    resting = allocated_gib()
    try:
        with resident.training() as pipeline:
            train_lora(request, clock, pipeline=pipeline)
        step_s: object = round(clock.median_step(), 3)
    except (torch.OutOfMemoryError, TrainingOutOfMemory):  # the engine steps down first
        step_s = "out of memory"
    return {
        "micro-batch": micro,
        "accumulation": config.effective_batch // micro,
        "grad checkpointing": checkpointing,
        "UNet memory format": layout,
        "step s (median)": step_s,
        "resting GiB": resting,
        "peak GiB": round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda() else "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    full = args.model == "full"
    resolution, image_steps = (1024, 30) if full else (64, 4)
    root = Path(tempfile.mkdtemp(prefix="petbooth-plan-"))
    settings = Settings(
        _env_file=None,
        data_dir=root,
        base_model=str(model_dir(args.model)),
        vae="",  # type: ignore[call-arg]
        # Contiguous, as the rows measured before channels-last; the last rows convert it.
        generation={"resolution": resolution, "channels_last": "off"},
    )
    resident = ResidentPipeline(settings)
    resident.pipeline  # noqa: B018  (load once)
    rows = [
        train_plan(resident, root, resolution, micro, checkpointing, args.steps)
        for checkpointing in ("on", "off")
        for micro in (1, 2, 4)
    ]
    resident.pipeline.unet.to(memory_format=torch.channels_last)
    rows += [
        train_plan(resident, root, resolution, 4, checkpointing, args.steps, "channels-last")
        for checkpointing in ("on", "off")
    ]
    resident.pipeline.unet.to(memory_format=torch.contiguous_format)
    command = "`python bench/plan_speed.py " + " ".join(sys.argv[1:]) + "`"
    for row in rows:
        print(row)

    pipeline = resident.pipeline
    parked = [pipeline.text_encoder, pipeline.text_encoder_2, pipeline.vae]
    to_cpu = timed(lambda: [m.to("cpu") for m in parked])
    to_device = timed(lambda: [m.to(resident.device) for m in parked])
    latents = torch.randn(
        1, 4, resolution // 8, resolution // 8, device=resident.device, dtype=pipeline.vae.dtype
    )
    with torch.no_grad():
        pipeline.vae.decode(latents)
        decode = timed(lambda: pipeline.vae.decode(latents))
    request = square_request("a photo of a cat on a skateboard", image_steps, resolution)
    images = {}
    for layout in ("contiguous", "channels-last"):
        if layout == "channels-last":
            pipeline.unet.to(memory_format=torch.channels_last)
        resident.generate(replace(request, seed=1))  # warm-up (cuDNN picks its kernels)
        images[layout] = statistics.median(
            timed(lambda s=s: resident.generate(replace(request, seed=s))) for s in range(2)
        )
    extras = [
        {
            "text encoders + VAE to CPU s": round(to_cpu, 3),
            "back to device s": round(to_device, 3),
            "VAE decode s": round(decode, 3),
            "image s (contiguous UNet)": round(images["contiguous"], 3),
            "image s (channels-last UNet)": round(images["channels-last"], 3),
        }
    ]
    print(extras[0])
    if not args.no_write:
        title = f"Training plans: {args.model} SDXL, {resolution} px, effective batch 4"
        print(append_section(title, rows, notes=command))
        title = f"Moving, decoding, channels-last: {args.model} SDXL, {resolution} px"
        print(append_section(title, extras, notes=command))


if __name__ == "__main__":
    main()
