"""Load an SDXL pipeline from a hub id or a local directory, with errors a person can act on.

Every process loads the model through `load_pipeline`, so "the weights are not here" is
reported the same way everywhere: as a `ModelUnavailableError` that says what to run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from diffusers import AutoencoderKL

# The submodule import, not `from diffusers import ...`: under mypy the top-level name
# resolves to diffusers' dummy placeholder class, which has no methods.
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import (
    StableDiffusionXLPipeline,
)
from huggingface_hub import constants as hub_constants
from huggingface_hub import try_to_load_from_cache
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from huggingface_hub.utils import validate_repo_id

log = logging.getLogger(__name__)

# What from_pretrained raises when weights are missing: OSError covers diffusers' own "no
# file named ..." and huggingface_hub's LocalEntryNotFoundError, RepositoryNotFoundError,
# GatedRepoError and HTTP errors; EntryNotFoundError is not an OSError.
_MISSING_WEIGHTS = (OSError, EntryNotFoundError)

_WHAT_TO_DO = {
    "Base model": "Run `petbooth download-models` on a machine with network, or set "
    "PETBOOTH_BASE_MODEL to a local directory containing model_index.json.",
    "VAE": "Run `petbooth download-models` on a machine with network, or set PETBOOTH_VAE "
    "to a local VAE directory, or to '' to use the base model's own VAE.",
}


class ModelUnavailableError(RuntimeError):
    """The weights cannot be loaded here; str() tells a person what to do about it."""


def resolve_device(setting: str) -> torch.device:
    """The torch device for a PETBOOTH_DEVICE value; "auto" is CUDA when present, else CPU."""
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(setting)


def load_pipeline(
    base_model: str,
    vae: str | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> StableDiffusionXLPipeline:
    """Load SDXL from `base_model` (hub id or save_pretrained directory) onto `device`.

    `vae` None or "" keeps the base model's own VAE; otherwise it names a replacement VAE
    (hub id or directory). An unavailable replacement VAE is skipped with a warning when the
    base model is a local directory, so a local base works offline with the default setting.
    """
    base_is_local = _is_local(base_model)
    _check_reference(base_model, base_is_local, "Base model")
    extra = {}
    if vae:
        replacement = _load_vae(vae, dtype, base_is_local)
        if replacement is not None:
            extra["vae"] = replacement
    try:
        pipeline = _from_pretrained(base_model, base_is_local, dtype, extra)
    except _MISSING_WEIGHTS as err:
        raise ModelUnavailableError(_unavailable("Base model", base_model, err)) from err
    pipeline.to(device)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _from_pretrained(
    base_model: str, base_is_local: bool, dtype: torch.dtype, extra: dict[str, AutoencoderKL]
) -> StableDiffusionXLPipeline:
    # A local directory holds whatever save_pretrained wrote; from the hub, never take pickles.
    use_safetensors = None if base_is_local else True
    if not base_is_local:
        _announce_download(base_model, "model_index.json")
    if not base_is_local and dtype in (torch.float16, torch.bfloat16):
        # The hub's fp16 variant is half the download (bf16 casts from it without loss
        # that matters for inference or LoRA training); not every repo has one.
        try:
            return StableDiffusionXLPipeline.from_pretrained(
                base_model, dtype=dtype, use_safetensors=True, variant="fp16", **extra
            )
        except _MISSING_WEIGHTS as err:
            log.info(
                "No fp16 variant of %s (%s); loading the full-precision files", base_model, err
            )
    return StableDiffusionXLPipeline.from_pretrained(
        base_model, dtype=dtype, use_safetensors=use_safetensors, **extra
    )


def _load_vae(vae: str, dtype: torch.dtype, base_is_local: bool) -> AutoencoderKL | None:
    vae_is_local = _is_local(vae)
    try:
        _check_reference(vae, vae_is_local, "VAE")
        if not vae_is_local:
            _announce_download(vae, "config.json")
        return AutoencoderKL.from_pretrained(
            vae, dtype=dtype, use_safetensors=None if vae_is_local else True
        )
    except (*_MISSING_WEIGHTS, ModelUnavailableError) as err:
        if base_is_local:
            log.warning(
                "VAE %r is unavailable (%s); using the base model's own VAE instead. "
                "Set PETBOOTH_VAE to a local directory to use another VAE offline.",
                vae,
                err,
            )
            return None
        raise ModelUnavailableError(_unavailable("VAE", vae, err)) from err


def _announce_download(hub_id: str, marker: str) -> None:
    """The engine turns the hub's progress bars off (engine.models.library_noise): say in
    one line that minutes of downloading start now, and how to do it ahead of time."""
    if hub_constants.is_offline_mode() or isinstance(try_to_load_from_cache(hub_id, marker), str):
        return
    log.info(
        "%s is not in the Hugging Face cache: downloading it now (SDXL is about 7 GB, once; "
        "`petbooth download-models` does this ahead of time)",
        hub_id,
    )


def _is_local(reference: str) -> bool:
    # A hub id is "owner/name"; anything that exists or is spelt like a path is a directory.
    path = Path(reference).expanduser()
    return (
        path.exists()
        or reference.startswith(("/", ".", "~"))
        or "\\" in reference
        or reference.count("/") > 1
    )


def _check_reference(reference: str, is_local: bool, what: str) -> None:
    """Fail early, in words, on a directory without a model or a malformed hub id."""
    if is_local:
        directory = Path(reference).expanduser()
        marker = "model_index.json" if what == "Base model" else "config.json"
        if not (directory / marker).is_file():
            problem = f"{what} directory '{reference}' does not exist or has no {marker}."
            raise ModelUnavailableError(f"{problem} {_WHAT_TO_DO[what]}")
        return
    try:
        validate_repo_id(reference)
    except HFValidationError as err:
        raise ModelUnavailableError(
            f"{what} '{reference}' is neither a local directory nor a Hugging Face hub id. "
            f"{_WHAT_TO_DO[what]}"
        ) from err


def _unavailable(what: str, reference: str, err: BaseException) -> str:
    if hub_constants.is_offline_mode():
        where = (
            "is not in the local Hugging Face cache and the hub cannot be reached "
            "(HF_HUB_OFFLINE=1)."
        )
    else:
        where = f"could not be loaded from the local cache or the Hugging Face hub ({err})."
    return f"{what} '{reference}' {where} {_WHAT_TO_DO[what]}"
