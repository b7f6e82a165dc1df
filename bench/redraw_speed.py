"""Issue 13's picture features on the resident pipeline (not a test).

    python bench/redraw_speed.py                  # tiny SDXL on this machine, 64 px
    python bench/redraw_speed.py --model full     # on a GPU: 1024 px, 30 steps

In one process, against the same one-pet picture measured beside them: a picture of two
pets (both LoRA slots active), Vary (strong) and Upscale 2x (img2img from a drawn picture;
the upscale at twice the size with the VAE tiled, with its own peak VRAM), and the safety
classifier's time per job of 1 and 4 pictures (a classifier of the default model's shape,
ViT-base, random weights). One row is appended to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench.generate_speed import drawing_settings, make_lora, square_request, timed
from bench.report import append_section, peak_rss_mib, peak_vram_gib
from engine.generation.request import GenerateRequest
from engine.generation.resident import ResidentPipeline
from engine.settings import SafetySettings


def median_s(action: object, repeats: int) -> float:
    return round(statistics.median(timed(action) for _ in range(repeats)), 3)


def redraw_rows(resident: ResidentPipeline, request: GenerateRequest, repeats: int) -> dict:
    """Seconds per picture of one pet (`request`) and of Vary (strong) from it; the
    upscale's seconds and peak VRAM (GiB, the process's peak since the upscale began)."""
    gen = resident.settings.generation
    one = median_s(lambda: resident.generate(request), repeats)
    single = request
    source = Path(tempfile.mkdtemp()) / "source.png"
    resident.generate(single).images[0].save(source)
    vary = replace(single, source_image=source, strength=gen.vary_strong_strength)
    vary_s = median_s(lambda: resident.generate(vary), repeats)
    upscale = replace(
        vary,
        width=2 * request.width,
        height=2 * request.height,
        strength=gen.upscale_strength,
        tiled_vae=True,
    )
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    upscale_s = median_s(lambda: resident.generate(upscale), max(1, repeats - 1))
    return {
        "one pet s": one,
        "vary (strong) s": vary_s,
        f"upscale to {2 * request.width} px s": upscale_s,
        "upscale peak VRAM GiB": peak_vram_gib(),
    }


def safety_rows(root: Path, device: str, repeats: int) -> dict:
    """ms to screen a job of 1 and of 4 pictures, model loaded (its load time apart)."""
    from PIL import Image
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    from engine.safety.classifier import classifier_for

    labels = {0: "normal", 1: "nsfw"}
    folder = root / "safety"
    config = ViTConfig(id2label=labels, label2id={v: k for k, v in labels.items()})
    ViTForImageClassification(config).save_pretrained(folder)  # ViT-base: the default's shape
    ViTImageProcessor().save_pretrained(folder)
    classifier = classifier_for(SafetySettings(model=str(folder)), device)
    pictures = [Image.new("RGB", (1024, 1024), (i * 40, 90, 160)) for i in range(4)]
    load_s = timed(lambda: classifier.flagged(pictures[:1]))
    return {
        "safety load s": round(load_s, 2),
        "safety 1 picture ms": 1000 * median_s(lambda: classifier.flagged(pictures[:1]), repeats),
        "safety 4 pictures ms": 1000 * median_s(lambda: classifier.flagged(pictures), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    settings, steps = drawing_settings(args.model, "petbooth-redrawbench-")
    root, resolution = settings.data_dir, settings.generation.resolution
    loras = [make_lora(settings, root, seed, min(resolution, 256)) for seed in (1, 2)]
    resident = ResidentPipeline(settings)
    request = replace(
        square_request("a photo of ohwx cat and ohwx dog on a sofa", steps, resolution),
        lora=loras[0],
        second_lora=loras[1],
    )
    resident.generate(request)  # loads, and warms both slots and the kernels
    row = {
        "model": args.model,
        "px": resolution,
        "steps": steps,
        **redraw_rows(resident, replace(request, second_lora=None), args.repeats),
    }
    row["two pets s"] = median_s(lambda: resident.generate(request), args.repeats)
    row |= safety_rows(root, str(resident.device), args.repeats)
    row["peak RSS MiB"] = round(peak_rss_mib())
    print(row)
    if not args.no_write:
        title = f"Picture features: {args.model} SDXL, {resolution} px, {steps} steps"
        command = "`python bench/redraw_speed.py " + " ".join(sys.argv[1:]) + "`"
        print(append_section(title, [row], command))


if __name__ == "__main__":
    main()
