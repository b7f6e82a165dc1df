"""Generation speed and memory on the resident pipeline (not a test).

    python bench/generate_speed.py                    # tiny SDXL on this machine, 64 px
    python bench/generate_speed.py --model full       # on a GPU: 1024 px, 30 steps,
                                                      # eager and torch.compile, + training
    python bench/generate_speed.py --fuse-lora        # + eager with the LoRA fused in

Measures per-image latency, the LoRA swap (a cached LoRA copied into the slot), and with
`--model full` the peak VRAM of a training step and a generation sharing the GPU. Full-size
SDXL has random weights, built once from its configs under bench/.cache (as train_speed.py).
Results are appended to BENCHMARKS.md.
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

from bench.report import append_section, peak_rss_mib, peak_vram_gib
from bench.train_speed import model_dir
from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.settings import Settings, TrainingDefaults
from engine.training import train_lora
from engine.training.request import NullHooks, TrainRequest
from tests.samples import write_photos


def make_lora(settings: Settings, root: Path, seed: int, resolution: int) -> Path:
    """A real LoRA file of the configured rank: a 1-step training on the resident pipeline."""
    request = TrainRequest(
        job_dir=root / f"job-{seed}",
        photo_paths=write_photos(root / f"photos-{seed}", 4, size=max(96, resolution)),
        token="ohwx",
        class_noun="cat",
        config=TrainingDefaults(resolution=resolution, steps=1, seed=seed, validation_prompts=()),
        base_model=settings.base_model,
        vae=None,
        device=settings.device,
        priors_dir=root / "priors",
    )
    return train_lora(request).lora_dir


def square_request(prompt: str, steps: int, resolution: int) -> GenerateRequest:
    """One square picture, seed 0, guidance 5, no LoRA (a measurement swaps one in)."""
    return GenerateRequest(
        prompt=prompt,
        negative_prompt="",
        count=1,
        seed=0,
        steps=steps,
        guidance_scale=5.0,
        width=resolution,
        height=resolution,
        lora=None,
        subject="bench",
    )


def drawing_settings(model: str, prefix: str) -> tuple[Settings, int]:
    """Settings to draw with, and the steps a picture takes: the tiny SDXL at 64 px in 4
    steps, or full-size SDXL at 1024 px in 30 (needs a CUDA GPU); a fresh data dir each run."""
    full = model == "full"
    if full and not torch.cuda.is_available():
        sys.exit("--model full needs a CUDA GPU")
    resolution, steps = (1024, 30) if full else (64, 4)
    settings = Settings(
        _env_file=None,
        data_dir=Path(tempfile.mkdtemp(prefix=prefix)),
        base_model=str(model_dir(model)),
        vae="",  # type: ignore[call-arg]
        generation={"resolution": resolution},
    )
    return settings, steps


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(action: object) -> float:
    assert callable(action)
    sync()
    began = time.perf_counter()
    action()
    sync()
    return time.perf_counter() - began


def compiled_graphs() -> int:
    """Graphs dynamo has compiled so far in this process (a recompile adds one)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def measure(settings: Settings, loras: list[Path], request: GenerateRequest, repeats: int) -> dict:
    resident = ResidentPipeline(settings)
    load_s = timed(lambda: resident.pipeline)
    first_s = timed(lambda: resident.generate(replace(request, lora=loras[0])))  # compiles, if on
    graphs = compiled_graphs()
    compiled = settings.generation.compile
    latencies = [
        timed(lambda: resident.generate(replace(request, lora=loras[0]))) for _ in range(repeats)
    ]
    for lora in loras:
        resident.cache.get(lora)  # from disk once; swaps below copy from host memory
    swaps = []
    for index in range(2 * repeats):
        lora = resident.cache.get(loras[index % 2])
        swaps.append(timed(lambda lora=lora: resident.slot.load(lora)))
    after_swaps_s = timed(lambda: resident.generate(replace(request, lora=loras[1])))
    median = statistics.median(latencies)
    return {
        "load s": round(load_s, 2),
        "first image s": round(first_s, 2),
        "compile s (first − median)": round(first_s - median, 1) if compiled else "-",
        "image s (median)": round(median, 3),
        "swap ms (median)": round(1000 * statistics.median(swaps), 2),
        "image after swaps s": round(after_swaps_s, 3),  # no recompile: same as the median
        "graphs compiled by swaps": compiled_graphs() - graphs,  # must be 0
        "resident": resident,
    }


def shared_gpu_peak(settings: Settings, root: Path, request: GenerateRequest, lora: Path) -> float:
    """Peak VRAM (GiB) of a training with one generation served between its steps."""
    resident = ResidentPipeline(settings)
    request = TrainRequest(
        job_dir=root / "shared",
        photo_paths=write_photos(root / "photos-shared", 4, size=1024),
        token="ohwx",
        class_noun="cat",
        config=TrainingDefaults(resolution=1024, steps=3, validation_prompts=()),
        base_model=settings.base_model,
        vae=None,
        device=settings.device,
        priors_dir=root / "priors",
    )

    class GenerateOnce(NullHooks):
        done = False

        def between_steps(self) -> None:
            if not self.done:
                self.done = True
                resident.generate(replace(request, lora=lora))

    torch.cuda.reset_peak_memory_stats()
    with resident.training() as pipeline:
        train_lora(request, GenerateOnce(), pipeline=pipeline)
    return torch.cuda.max_memory_allocated() / 2**30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="full: skip the compiled run")
    parser.add_argument("--compile", action="store_true", help="tiny: add a compiled run too")
    parser.add_argument(
        "--fuse-lora", action="store_true", help="add an eager run with generation.fuse_lora"
    )
    parser.add_argument(
        "--no-shared", action="store_true", help="full: skip training + generation's peak"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    full = args.model == "full"
    settings, steps = drawing_settings(args.model, "petbooth-genbench-")
    root, resolution = settings.data_dir, settings.generation.resolution
    request = square_request("a photo of ohwx cat on a skateboard", steps, resolution)
    loras = [make_lora(settings, root, seed, min(resolution, 256)) for seed in (1, 2)]
    modes = [(False, False)]  # (compiled, LoRA fused into the weights)
    modes += [(False, True)] if args.fuse_lora else []
    modes += [(True, False)] if (full and not args.no_compile) or args.compile else []
    command = "`python bench/generate_speed.py " + " ".join(sys.argv[1:]) + "`"
    title = f"Generation: {args.model} SDXL, {resolution} px, {steps} steps (DPM++ 2M Karras)"
    recompiled = False
    for compiled, fused in modes:  # each mode's row is written as soon as it is measured
        generation = {"compile": compiled, "fuse_lora": fused}
        mode_settings = settings.model_copy(
            update={"generation": settings.generation.model_copy(update=generation)}
        )
        result = measure(mode_settings, loras, request, args.repeats)
        result.pop("resident")
        row = {
            "model": args.model,
            "px": resolution,
            "steps": steps,
            "compile": compiled,
            "LoRA": "fused" if fused else "beside",
            **result,
            "peak VRAM GiB": peak_vram_gib(),
            "peak RSS MiB": round(peak_rss_mib()),
        }
        notes = command
        if compiled and row["graphs compiled by swaps"]:
            recompiled = True
            notes += "; **a LoRA swap recompiled the UNet** (dynamo compiled new graphs)"
        print(row)
        if not args.no_write:
            mode = ("compiled" if compiled else "eager") + (", LoRA fused" if fused else "")
            print(append_section(f"{title}, {mode}", [row], notes))
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    if full and not args.no_shared:
        peak = shared_gpu_peak(settings, root, request, loras[0])
        print(f"training (1024 px) + one generation between its steps: peak {peak:.2f} GiB")
    if recompiled:
        sys.exit("a LoRA swap recompiled the UNet")


if __name__ == "__main__":
    main()
