"""The torch-free store: plain SQL over SQLite (aiosqlite), shared by the bot and the engine.

Modules by table: ``jobs`` (the queue), ``events`` (the outbox), ``subjects`` (pets and their
photos), ``engines`` (liveness). ``Database`` owns the connection; ``migrate`` the schema.
"""

from engine.store import engines, events, jobs, subjects
from engine.store.database import Database
from engine.store.migrate import SchemaError, migrate
from engine.store.records import (
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
    "engines",
    "events",
    "jobs",
    "migrate",
    "subjects",
]
