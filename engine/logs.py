"""How every petbooth process logs: one handler on stderr, as text for people or as one JSON
object a line for Docker and log collectors (``--log-format json``, ``PETBOOTH_LOG_FORMAT``).

Torch-free, so the bot uses it too. Third-party messages that tell an operator nothing are
dropped here; the GPU libraries' own handlers and progress bars are turned off by
`engine.models.library_noise`, which the engine calls at start.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The job whose work is being logged, for the JSON `job_id` field. A ContextVar, because
# asyncio.to_thread and run_coroutine_threadsafe carry it to the job's thread and back.
_current_job: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "petbooth_job", default=None
)

# (logger prefix, words in the message) of log records that say nothing to an operator.
_NOISE_RECORDS = (
    # bitsandbytes looks for the optional `kernels` package for CPU 4-bit matmuls at import;
    # petbooth never runs 4-bit (8-bit Adam only, on CUDA).
    ("bitsandbytes", "kernels"),
    # ...and `kernels` itself (a transformers dependency) says it skipped a hub check offline.
    ("kernels", "kernels-community"),
    # transformers' image processors fall back to their PIL versions without torchvision,
    # which is what the scorers want anyway.
    ("transformers", "requires torchvision"),
    # diffusers warns at every dtype cast of a model, listing the modules to keep in fp32;
    # the VAE has none, and petbooth casts it on purpose (fp32 to encode photos and redraws).
    ("diffusers", "should be kept in float32: []"),
)
# Regexes of Python warnings (matched at the message's start) with nothing to act on.
_NOISE_WARNINGS = (
    # diffusers passes a deprecated argument to huggingface_hub on every download attempt.
    r"The `local_dir_use_symlinks` argument is deprecated",
    # The resident pipeline holds the generation slot's adapter while a training adds its own:
    # two adapters in one model is the design (engine.generation.resident).
    r"Already found a `peft_config` attribute in the model",
)


@contextlib.contextmanager
def job_context(job_id: int) -> Iterator[None]:
    """Log records made inside (on this thread, and on threads and tasks it starts) carry
    `job_id`."""
    token = _current_job.set(job_id)
    try:
        yield
    finally:
        _current_job.reset(token)


class _JobIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = _current_job.get()
        return True


class _NoiseFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True  # an error is never noise
        message = record.getMessage()
        return not any(
            record.name.startswith(prefix) and words in message for prefix, words in _NOISE_RECORDS
        )


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and job_id
    when the record belongs to a job; a traceback, if any, in `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_id = getattr(record, "job_id", None)
        if job_id is not None:
            entry["job_id"] = job_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _PetboothHandler(logging.StreamHandler):
    """The one handler configure_logging installs (and replaces when called again)."""


def configure_logging(level: int, fmt: LogFormat = "text") -> None:
    """Log at `level` to stderr in `fmt`, with third-party noise dropped.

    Like logging.basicConfig, it leaves a root logger that someone else already configured
    alone (pytest's capture, an embedding application), except for dropping the noise.
    """
    for pattern in _NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    root = logging.getLogger()
    if any(not isinstance(h, _PetboothHandler) for h in root.handlers):
        return
    for handler in root.handlers:
        root.removeHandler(handler)
    handler = _PetboothHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_JobIdFilter())
    handler.addFilter(_NoiseFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # other warnings become log lines (JSON ones, too)


def first_line(err: BaseException) -> str:
    """An error as one line of a log or a reply: its message's first line (a driver's can
    run to several), else its type's name."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
