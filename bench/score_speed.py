"""What scoring adds per checkpoint: time and memory of `PreviewScorer.score` (DINO + CLIP-I
against the owner's photos, CLIP-T against the prompts), as the engine calls it.

    python bench/score_speed.py                   # tiny random scorers (tiny-model's)
    python bench/score_speed.py --model full      # DINO ViT-S/16 + CLIP ViT-B/32 shapes,
                                                  # random weights: their speed and memory
    python bench/score_speed.py --model real      # the default hub scorers (downloaded first
                                                  # with `petbooth download-models`)

The first checkpoint also loads the models and embeds the photos; later checkpoints reuse
the photo embeddings and move the models to the device and back. Results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import peak_rss_mib, peak_vram_gib, record
from engine.settings import DEFAULT_VALIDATION_PROMPTS, ScoringSettings
from tests.samples import scene


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def images(directory: Path, count: int, size: int, first_seed: int, suffix: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = directory / f"{index}{suffix}"
        scene(first_seed + index, (size, size)).save(path)
        paths.append(path)
    return paths


def build_full_size_scorers(directory: Path) -> tuple[Path, Path]:
    """The default scorers' shapes with random weights (same speed and memory): DINO
    ViT-S/16 and CLIP ViT-B/32 (transformers' CLIPConfig defaults are ViT-B/32's), with the
    tiny byte-level tokenizer standing in for CLIP's BPE (the vocabulary size is CLIP's)."""
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        ViTConfig,
        ViTImageProcessorPil,
        ViTModel,
    )

    from engine.models.tiny import build_tiny_tokenizer

    identity, prompt = directory / "identity", directory / "prompt"
    dino = ViTConfig(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536
    )
    ViTModel(dino).save_pretrained(identity)
    ViTImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(identity)
    tokenizer = build_tiny_tokenizer()
    text = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    CLIPModel(CLIPConfig(text_config=text)).save_pretrained(prompt)
    tokenizer.save_pretrained(prompt)
    CLIPImageProcessorPil().save_pretrained(prompt)
    return identity, prompt


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["tiny", "full", "real"], default="tiny")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--resolution", type=int, default=None, help="preview size in px")
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    resolution = args.resolution or (64 if args.model == "tiny" else 1024)
    # As `petbooth engine` does before torch loads: one core for its heartbeat and database.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))

    import torch

    from engine.scoring.scorers import PreviewScorer

    work = Path(tempfile.mkdtemp(prefix="petbooth-score-bench-"))
    if args.model == "tiny":
        from engine.models.tiny_scorers import build_tiny_scorers

        identity, prompt = build_tiny_scorers(work / "scorers")
        settings = ScoringSettings(identity_model=str(identity), prompt_model=str(prompt))
    elif args.model == "full":
        identity, prompt = build_full_size_scorers(work / "scorers")
        settings = ScoringSettings(identity_model=str(identity), prompt_model=str(prompt))
    else:
        settings = ScoringSettings()
    prompts = [
        p.replace("{token} {cls}", "cat").format(cls="cat") for p in DEFAULT_VALIDATION_PROMPTS
    ]
    previews = images(work / "previews", len(prompts), resolution, 100, ".png")
    photos = images(work / "photos", args.photos, 1024, 0, ".jpg")
    scorer = PreviewScorer(settings, args.device)
    cuda = torch.cuda.is_available() and args.device != "cpu"

    before = rss_mib()
    began = time.perf_counter()
    scorer.score(previews, prompts, photos)
    first = time.perf_counter() - began
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    later = []
    for _ in range(args.checkpoints):
        began = time.perf_counter()
        scorer.score(previews, prompts, photos)
        later.append(time.perf_counter() - began)
    row = {
        "scorers": args.model,
        "device": "cuda" if cuda else "cpu",
        "previews": len(previews),
        "preview px": resolution,
        "photos": args.photos,
        "first checkpoint s (load + photos)": round(first, 2),
        "per checkpoint s (median)": round(statistics.median(later), 3),
        "RSS added MiB": round(rss_mib() - before),
        "peak RSS MiB": round(peak_rss_mib()),
        "peak VRAM GiB": peak_vram_gib(),
        "VRAM held between checkpoints GiB": round(torch.cuda.memory_allocated() / 2**30, 2)
        if cuda
        else "-",
    }
    title = f"Scoring per checkpoint: {args.model} scorers, {row['device']}"
    record("score_speed.py", title, row, sys.argv[1:], write=not args.no_write)


if __name__ == "__main__":
    main()
