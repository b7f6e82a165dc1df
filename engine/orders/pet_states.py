"""A pet's state as its owner reads it, in the words its jobs use.

The store keeps a pet waiting for its training as ``pending`` while its job is ``queued``;
one situation gets one word wherever people read it (/status, `petbooth status`, refusals),
so a waiting pet reads "queued". The stored values stay as they are.
"""

from __future__ import annotations

from engine.store import SubjectStatus

PET_STATE_WORDS = {
    SubjectStatus.PENDING: "queued",  # as its job: waiting for an engine
    SubjectStatus.TRAINING: "training",
    SubjectStatus.READY: "ready",
    SubjectStatus.FAILED: "failed",  # its training failed or was cancelled
}


def pet_state(status: SubjectStatus | str) -> str:
    """The word people read for a pet's stored status ("pending" reads "queued")."""
    return PET_STATE_WORDS[SubjectStatus(status)]
