"""The GPU libraries' own logging, made to fit the engine's log.

transformers and diffusers install their own stderr handlers at import (lines like
"[transformers] ..." that neither the level nor `--log-format json` reach) and draw tqdm
progress bars for loading weights, writing shards and every denoising loop. An operator
reads the engine's own lines instead ("loading the resident pipeline ...", "job 7: step
40/500 ..."), so the bars go and the libraries' warnings flow through petbooth's handler,
where `engine.logs` drops the known noise.
"""

from __future__ import annotations

import os


def silence_library_noise() -> None:
    """Call once at engine start, before anything else imports diffusers or transformers.
    Imports torch (through diffusers): the engine is about to need it anyway."""
    # Read by huggingface_hub and transformers at import: no download or loading bars.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import huggingface_hub.utils as hub_utils
    import transformers.utils.logging as transformers_logging

    hub_utils.disable_progress_bars()
    # transformers first: importing diffusers makes transformers warn (torchvision notices).
    transformers_logging.disable_default_handler()
    transformers_logging.enable_propagation()
    transformers_logging.disable_progress_bar()
    import diffusers.utils.logging as diffusers_logging

    diffusers_logging.disable_default_handler()
    diffusers_logging.enable_propagation()
    diffusers_logging.disable_progress_bar()
