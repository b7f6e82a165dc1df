"""The torch-free store: plain SQL over SQLite (aiosqlite), shared by the bot and the engine.

Modules by table: ``jobs`` (the queue), ``endings`` (the one way each job ends), ``events``
(the outbox), ``subjects`` (pets and their photos), ``engines`` (liveness), ``scores``
(checkpoint scores). ``Database`` owns
the connection and hands out ``Transaction``s; ``migrate`` owns the schema. A function that
must commit together with others takes a ``Transaction`` and ends in ``_tx``.
"""

from engine.store import endings, engines, events, jobs, scores, subjects
from engine.store.database import Database, Transaction
from engine.store.migrate import SchemaError, migrate
from engine.store.records import (
    CheckpointScore,
    EngineHealth,
    Event,
    EventKind,
    Job,
    JobKind,
    JobState,
    Photo,
    Subject,
    SubjectStatus,
)

__all__ = [
    "CheckpointScore",
    "Database",
    "EngineHealth",
    "Event",
    "EventKind",
    "Job",
    "JobKind",
    "JobState",
    "Photo",
    "SchemaError",
    "Subject",
    "SubjectStatus",
    "Transaction",
    "endings",
    "engines",
    "events",
    "jobs",
    "migrate",
    "scores",
    "subjects",
]
