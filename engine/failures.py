"""How a job's failure is told: a sentence for its owner, the traceback to the engine log only."""

from __future__ import annotations

import errno

from engine.store import JobKind

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.EISDIR}


def _told_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is already a sentence for a person."""
    from engine.generation.job import GenerationRefusedError
    from engine.generation.lora_slot import LoraUnusableError
    from engine.generation.smaller import PictureOutOfMemory
    from engine.models.loading import ModelUnavailableError
    from engine.training.job import SubjectGoneError
    from engine.training.request import InvalidTrainRequest, TrainingOutOfMemory

    return (
        ModelUnavailableError,
        SubjectGoneError,
        InvalidTrainRequest,
        TrainingOutOfMemory,
        GenerationRefusedError,
        LoraUnusableError,
        PictureOutOfMemory,
    )


def is_expected_failure(err: BaseException) -> bool:
    return isinstance(err, _told_errors()) or (
        isinstance(err, OSError) and err.errno in _DISK_FULL | _NOT_WRITABLE
    )


def describe_failure(err: BaseException, kind: JobKind = JobKind.TRAIN) -> str:
    """A sentence for the job's owner; the traceback goes to the engine log only."""
    if isinstance(err, _told_errors()):
        return str(err)
    again = "/imagine" if kind is JobKind.GENERATE else "/train"
    what = "Drawing the picture" if kind is JobKind.GENERATE else "Training"
    if isinstance(err, OSError) and err.errno in _DISK_FULL:
        return f"The engine ran out of disk space. An admin must free space; then {again} again."
    if isinstance(err, OSError) and err.errno in _NOT_WRITABLE:
        return (
            "The engine cannot write to its data directory. An admin must fix its "
            f"permissions (see `petbooth doctor`); then {again} again."
        )
    if type(err).__name__ == "OutOfMemoryError":  # torch's, outside a training step
        return (
            f"{what} ran out of GPU memory. Try again in a while ({again}); if it keeps "
            "happening, an admin should free GPU memory or lower PETBOOTH_GPU_MEMORY_GIB."
        )
    return f"{what} failed unexpectedly ({type(err).__name__}); the engine log has details."
