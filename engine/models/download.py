"""`petbooth download-models`: fetch the base model and VAE into the Hugging Face cache
ahead of time, so the first /train does not wait for 7 GB and an offline engine can run."""

from __future__ import annotations

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


def download_models(base_model: str, vae: str | None) -> list[str]:
    """Download what is not a local directory; returns where each one lives now."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    places = []
    for reference, patterns in ((base_model, BASE_MODEL_FILES), (vae, VAE_FILES)):
        if not reference:
            continue
        if Path(reference).expanduser().is_dir():
            places.append(f"{reference} (local directory, nothing to download)")
            continue
        try:
            places.append(snapshot_download(reference, allow_patterns=patterns))
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as err:
            raise DownloadFailedError(
                f"Could not download {reference!r}: {err}. Check the network, or for a gated "
                "model log in with `hf auth login` first."
            ) from err
    return places
