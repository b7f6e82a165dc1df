-- Today's quota use of pets forgotten today (engine/store/guilds.py): /forget deletes a
-- pet's jobs, which the daily quotas count, so what they counted moves here first. Without
-- it a member could /train, /forget and /train again past the server's daily limit.
-- Only the current UTC day's rows matter; older ones are dropped as new ones come.
CREATE TABLE forgotten_use (
    guild_id   INTEGER NOT NULL,
    owner_id   INTEGER NOT NULL,
    day_start  INTEGER NOT NULL,  -- 00:00 UTC of the day, Unix seconds
    trainings  INTEGER NOT NULL DEFAULT 0,
    pictures   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, owner_id, day_start)
);

-- The storage folders of each forgotten pet (its photos, trainings, pictures). /forget
-- deletes them from storage and from its own process's cache; every other process with a
-- local cache of object storage (engines, other bot shards) deletes its copies when it
-- reads them here (engine/orders/forgotten_copies.py, `drop_forgotten`). Kept 90 days.
CREATE TABLE forgotten_folders (
    id            INTEGER PRIMARY KEY,
    folder        TEXT    NOT NULL,  -- a storage key: subjects/<pet>, jobs/<id>, outputs/<id>
    forgotten_at  REAL    NOT NULL
);
