"""`petbooth download-models`: fetch the base model, the VAE and the scoring models into the
Hugging Face cache ahead of time, so the first /train does not wait for 7 GB and an offline
engine can run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DownloadFailedError(RuntimeError):
    """str() says what went wrong and what to try."""


# Only what the pipeline loads: the fp16 variant (half the download of the fp32 files; the
# engine loads it for fp16 and bf16) plus configs and tokenizers. SDXL's repo also carries
# ONNX, OpenVINO and fp32 copies we never read (~60 GB in all).
BASE_MODEL_FILES = [
    "model_index.json",
    "*/config.json",
    "scheduler/*",
    "tokenizer*/*",
    "*.fp16.safetensors",
]
VAE_FILES = ["config.json", "diffusion_pytorch_model.safetensors"]
# transformers scorers: configs, tokenizer and image-processor files, safetensors weights;
# repos that never got a safetensors copy fall back to their pickle (read only if needed).
SCORER_FILES = ["*.json", "*.txt", "model.safetensors"]
SCORER_FALLBACK_FILES = ["pytorch_model.bin"]


def download_models(base_model: str, vae: str | None, scorers: Sequence[str] = ()) -> list[str]:
    """Download what is not a local directory; returns where each one lives now."""
    wanted = [(base_model, BASE_MODEL_FILES), (vae, VAE_FILES)]
    wanted += [(scorer, SCORER_FILES) for scorer in scorers]
    places = []
    for reference, patterns in wanted:
        if not reference:
            continue
        if Path(reference).expanduser().is_dir():
            places.append(f"{reference} (local directory, nothing to download)")
            continue
        place = _snapshot(reference, patterns)
        if patterns is SCORER_FILES and not any(Path(place).glob("*.safetensors")):
            place = _snapshot(reference, SCORER_FALLBACK_FILES)
        places.append(place)
    return places


def _snapshot(reference: str, patterns: list[str]) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return snapshot_download(reference, allow_patterns=patterns)
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as err:
        raise DownloadFailedError(
            f"Could not download {reference!r}: {err}. Check the network, or for a gated "
            "model log in with `hf auth login` first."
        ) from err
