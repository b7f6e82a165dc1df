"""Row types: frozen dataclasses mapped from rows (either backend), states as enums."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.store.database import Row


class JobKind(StrEnum):
    TRAIN = "train"
    GENERATE = "generate"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class SubjectStatus(StrEnum):
    PENDING = "pending"
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


class EventKind(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    CHECKPOINT = "checkpoint"
    PREVIEW = "preview"
    RETRYING = "retrying"  # the engine died; the job is queued again and resumes
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Subject:
    id: int
    owner_id: int
    name: str
    class_noun: str
    token: str
    status: SubjectStatus
    lora_path: str | None
    chosen_step: int | None  # picked by the owner from a preview; wins over the recommendation
    created_at: float
    updated_at: float
    recommended_step: int | None = None  # the engine's pick from the scores; None: final step
    model_job_id: int | None = None  # the training its model (and checkpoints) come from

    @classmethod
    def from_row(cls, row: Row) -> Subject:
        values = dict(row)
        values["status"] = SubjectStatus(values["status"])
        return cls(**values)


@dataclass(frozen=True)
class NewPhoto:
    """A photo as enrolment hands it to the store: stored, not yet a row."""

    path: str  # relative to the data dir
    source_name: str  # the uploaded name, made safe to show
    sha256: str
    size_bytes: int
    width: int
    height: int


@dataclass(frozen=True)
class Photo(NewPhoto):
    id: int
    subject_id: int
    created_at: float
    grown_by_job_id: int | None = None  # the /grow that added it; None: enrolled with the pet

    @classmethod
    def from_row(cls, row: Row) -> Photo:
        return cls(**dict(row))


@dataclass(frozen=True)
class Job:
    id: int
    kind: JobKind
    owner_id: int
    guild_id: int | None
    channel_id: int | None
    subject_id: int | None
    params: dict[str, Any]
    state: JobState
    priority: int
    attempts: int
    max_attempts: int
    engine_id: str | None
    lease_until: float | None
    cancel_requested: bool
    step: int
    total_steps: int
    seconds_per_step: float | None
    created_at: float
    claimed_at: float | None
    started_at: float | None
    finished_at: float | None
    error: str | None

    @classmethod
    def from_row(cls, row: Row) -> Job:
        values = dict(row)
        values["kind"] = JobKind(values["kind"])
        values["state"] = JobState(values["state"])
        values["params"] = json.loads(values["params"])
        values["cancel_requested"] = bool(values["cancel_requested"])
        return cls(**values)


@dataclass(frozen=True)
class Event:
    id: int
    job_id: int
    kind: EventKind
    payload: dict[str, Any]
    files: list[str]
    created_at: float
    delivered_at: float | None
    message_id: int | None
    claimed_by: str | None = None  # the bot process delivering it, until claim_until
    claim_until: float | None = None
    sending_at: float | None = None  # a Discord call for it began then; None: never tried
    sending_after_id: int | None = None  # a snowflake below any message that call posted

    @classmethod
    def from_row(cls, row: Row) -> Event:
        values = dict(row)
        values["kind"] = EventKind(values["kind"])
        values["payload"] = json.loads(values["payload"])
        values["files"] = json.loads(values["files"])
        return cls(**values)


@dataclass(frozen=True)
class CheckpointScore:
    """One checkpoint's preview scores: cosine similarities, each in [-1, 1]."""

    job_id: int
    step: int
    identity: float  # DINO, previews x the owner's photos: "likeness"
    clip_image: float  # CLIP-I, the same with CLIP image embeddings
    clip_text: float  # CLIP-T, each preview x its prompt (class noun for the token)
    created_at: float

    @classmethod
    def from_row(cls, row: Row) -> CheckpointScore:
        return cls(**dict(row))


@dataclass(frozen=True)
class EngineHealth:
    engine_id: str
    pid: int
    device: str
    started_at: float
    heartbeat_at: float
    job_id: int | None
    loading: bool  # loading its model while idle: it claims nothing until it is done

    @classmethod
    def from_row(cls, row: Row) -> EngineHealth:
        fields = dict(row)
        return cls(**{**fields, "loading": bool(fields["loading"])})
