-- petbooth schema, version 1.
-- Times are Unix epoch seconds (REAL): the queue does arithmetic on them (leases, ETAs).
-- Discord ids are 64-bit snowflakes and fit SQLite's INTEGER; the CLI uses owner_id 0.

CREATE TABLE subjects (
    id            INTEGER PRIMARY KEY,
    owner_id      INTEGER NOT NULL,
    name          TEXT    NOT NULL,           -- as the owner calls it ("thor"), unique per owner
    class_noun    TEXT    NOT NULL,           -- "cat": DreamBooth binds the token to the class
    token         TEXT    NOT NULL,           -- rare-token identifier used in prompts
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'training', 'ready', 'failed')),
    lora_path     TEXT,                       -- directory loadable by load_lora_weights
    chosen_step   INTEGER,                    -- checkpoint picked from previews; NULL = final
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL,
    UNIQUE (owner_id, name)
);

CREATE TABLE photos (
    id            INTEGER PRIMARY KEY,
    subject_id    INTEGER NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    path          TEXT    NOT NULL,           -- stored file; the name is ours, never the upload's
    source_name   TEXT    NOT NULL,           -- sanitised upload name, for messages only
    sha256        TEXT    NOT NULL,           -- of the uploaded bytes
    size_bytes    INTEGER NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    created_at    REAL    NOT NULL,
    UNIQUE (subject_id, sha256)
);

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('train', 'generate')),
    owner_id         INTEGER NOT NULL,
    guild_id         INTEGER,
    channel_id       INTEGER,
    subject_id       INTEGER REFERENCES subjects (id) ON DELETE CASCADE,
    params           TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    state            TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    priority         INTEGER NOT NULL DEFAULT 0,   -- higher first: generation ahead of training
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    worker_id        TEXT,
    lease_until      REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    step             INTEGER NOT NULL DEFAULT 0,
    total_steps      INTEGER NOT NULL DEFAULT 0,
    seconds_per_step REAL,                         -- for ETAs of this and later jobs
    created_at       REAL    NOT NULL,
    claimed_at       REAL,                         -- latest claim: drives per-user round-robin
    started_at       REAL,                         -- first claim
    finished_at      REAL,
    error            TEXT
);
CREATE INDEX jobs_by_state ON jobs (state, priority, id);
CREATE INDEX jobs_by_owner ON jobs (owner_id, kind, claimed_at);

-- The outbox: the engine appends, the bot delivers and records the Discord message id.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,   -- progress | checkpoint | preview | done | failed | ...
    payload       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    files         TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(files)),
    created_at    REAL    NOT NULL,
    delivered_at  REAL,
    message_id    INTEGER
);
CREATE INDEX events_undelivered ON events (id) WHERE delivered_at IS NULL;
CREATE INDEX events_by_job ON events (job_id, kind);

-- One row per engine process: /status shows its heartbeat age.
CREATE TABLE engines (
    worker_id     TEXT    PRIMARY KEY,
    pid           INTEGER NOT NULL,
    device        TEXT    NOT NULL,
    started_at    REAL    NOT NULL,
    heartbeat_at  REAL    NOT NULL,
    job_id        INTEGER
);
