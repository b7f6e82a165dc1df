"""Screen a `generate` job's pictures before they are published: the flagged ones are
deleted here, on the engine, so they never reach shared storage or a channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from engine.safety.classifier import classifier_for
from engine.settings import Settings
from engine.store import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Screened:
    kept: list[Path]  # to publish, in drawing order
    withheld: list[int]  # indices (image-<i>.png) of the deleted ones


def needs_check(settings: Settings, job: Job) -> bool:
    """What the job's order decided (``params.safety_check``), unless this engine's
    operator turned the filter off. A job queued before the filter existed has no such key:
    a Discord order (one with a channel) is checked, since nobody knows any more whether
    its channel was age-restricted and a withheld picture costs only a reroll; the
    operator's `petbooth imagine` has no channel and is not."""
    asked = job.params.get("safety_check")
    if asked is None:
        asked = job.channel_id is not None
    return settings.safety.enabled and bool(asked)


def screen_pictures(settings: Settings, job: Job, files: list[Path]) -> Screened:
    """Blocking: run it on a thread. Raises SafetyUnavailableError, after deleting every
    picture, when the check is needed and the model cannot run: never post unchecked."""
    if not files or not needs_check(settings, job):
        return Screened(list(files), [])
    try:
        images = [_read(path) for path in files]
        flags = classifier_for(settings.safety, settings.device).flagged(images)
    except Exception:
        _delete(files)
        raise
    withheld = [index for index, flagged in enumerate(flags) if flagged]
    _delete([files[i] for i in withheld])
    if withheld:
        log.info(
            "job %s: %d of %d pictures withheld by the safety filter",
            job.id,
            len(withheld),
            len(files),
        )
    return Screened([p for i, p in enumerate(files) if i not in withheld], withheld)


def _read(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _delete(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
