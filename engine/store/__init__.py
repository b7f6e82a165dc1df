"""The torch-free store: plain SQL over SQLite (aiosqlite) or PostgreSQL (psycopg 3), shared
by the bot and the engine.

Modules by table: ``jobs`` (the queue), ``endings`` (the one way each job ends), ``events``
(the outbox), ``subjects`` (pets and their photos), ``engines`` (liveness), ``scores``
(checkpoint scores), ``guilds`` (per-server rules, quota use). ``Database`` owns the
connection (``database`` for SQLite, ``postgres`` for a ``postgresql://`` URL) and hands
out ``Transaction``s; ``migrate`` owns the schema (``migrations/sqlite/``,
``migrations/postgres/``); ``outage`` tells a store that did not answer (to wait for)
from a call that was wrong. A function that must commit together with others takes a
``Transaction`` and ends in ``_tx``.

Concurrency: every transaction in engine/ and bot/, and why it is atomic on both backends.
SQLite runs each under ``BEGIN IMMEDIATE`` (one writer at a time across processes), so
read-then-write is atomic there. PostgreSQL runs them at READ COMMITTED, several at once:

- ``jobs.claim_next``: claims take ``tx.lock("claim", 0)`` and run one at a time, so the
  fairness order is exactly SQLite's (``owner_last_claims`` replaces its MAX subquery); the
  claim itself is one ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)
  RETURNING *`` guarded by ``state = 'queued'``. No reaping inside (SQLite's claim reaps).
- ``jobs.requeue_expired`` (the reaper engines run every heartbeat period): ``SELECT ... FOR
  UPDATE SKIP LOCKED`` of expired running jobs, then guarded UPDATEs; two reapers never
  settle one job twice.
- ``jobs.enqueue`` / ``enqueue_tx``: one INSERT (plus NOTIFY at commit).
- ``jobs.heartbeat``, ``jobs.cancel``, ``endings.*`` (succeed, fail, cancel_running,
  cancel_queued, release): single UPDATEs guarded by state and engine_id; PostgreSQL
  re-checks the guard on the row's newest version after any lock wait, so a job ends once,
  and only for the engine holding it; the event and pet writes follow in the same
  transaction only when the guarded UPDATE returned the row.
- ``orders.enrolment.enrol_subject``: per-owner limits, duplicate names and the pet's rare
  token (``subjects.pick_token``) are read-then-write: ``tx.lock("owner", owner_id)``
  (``pg_advisory_xact_lock``) before the checks; UNIQUE (owner_id, name) backs the names.
- ``orders.growth.grow_subject``: the owner's one training at a time, one growth per pet and
  the server's quotas are read-then-write: ``tx.lock("owner", owner_id)`` before the checks,
  then the job and the new photos in the same transaction (the earlier check outside it
  only refuses early).
- ``orders.imagine``: the owner's waiting-pictures limit: ``tx.lock("owner", owner_id)``.
- ``orders.guild_rules`` (inside enrolment's and imagine's transactions): a server's daily
  quotas: ``tx.lock("guild", guild_id)`` after the owner's lock (always in that order).
  ``guilds.change`` (/server): read-edit-upsert under ``tx.lock("guild-settings", id)``.
- ``training.progress`` preview: "has this step a preview event yet, else add one":
  ``tx.lock("job", job_id)``; its progress transaction and ``scores.record_tx`` (an upsert)
  are single-statement writes.
- ``events.append_event``: one INSERT (plus NOTIFY). ``events.claim`` (bot shards): its
  "no other live claim on this job" check reads a snapshot, so claims take
  ``tx.lock("outbox-claim", 0)`` and run one at a time (two bots never split one job's
  events); ``mark_sending`` / ``mark_delivered`` / ``release``: single guarded UPDATEs.
- ``engines.beat`` (an upsert), ``engines.forget_silent``, ``engines.remove``,
  ``subjects.set_status``, ``subjects.choose_checkpoint``: single statements.
  ``subjects.delete`` (cascades): the pet's jobs' use of today's quotas is added to
  ``forgotten_use`` (an upsert that adds) in the same transaction as the DELETE.

On PostgreSQL ``tx.now`` is the database's clock (every machine's leases on one clock)
unless the caller passed a clock to ``Database.open`` (tests do).
"""

from engine.store import endings, engines, events, guilds, jobs, scores, subjects
from engine.store.database import ConstraintError, Database, Transaction
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
    "ConstraintError",
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
    "guilds",
    "jobs",
    "migrate",
    "scores",
    "subjects",
]
