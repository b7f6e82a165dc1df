-- Per-server rules a server admin sets with /server (bot/server/): who may /train and
-- /imagine, daily quotas, a pause switch, the safety filter. No row: the defaults below
-- (everyone may, no quotas, not paused, filter on). DMs have no guild and no rules.

CREATE TABLE guild_settings (
    guild_id                  INTEGER PRIMARY KEY,
    -- JSON arrays of Discord role ids; [] = every member may.
    train_role_ids            TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(train_role_ids)),
    imagine_role_ids          TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(imagine_role_ids)),
    -- Per UTC day (quotas reset at 00:00 UTC); NULL = unlimited.
    daily_trainings_per_user  INTEGER CHECK (daily_trainings_per_user > 0),
    daily_trainings_per_guild INTEGER CHECK (daily_trainings_per_guild > 0),
    daily_pictures_per_user   INTEGER CHECK (daily_pictures_per_user > 0),
    daily_pictures_per_guild  INTEGER CHECK (daily_pictures_per_guild > 0),
    paused                    INTEGER NOT NULL DEFAULT 0,
    safety_filter             INTEGER NOT NULL DEFAULT 1,
    updated_at                REAL    NOT NULL,
    updated_by                INTEGER NOT NULL       -- the admin's Discord user id
);

-- Today's quota use: a guild's jobs by kind and creation time.
CREATE INDEX jobs_by_guild ON jobs (guild_id, kind, created_at);
