-- Per-server rules a server admin sets with /server (bot/server/): the same table as
-- migrations/sqlite/0005. No row: everyone may, no quotas, not paused, filter on.

CREATE TABLE guild_settings (
    guild_id                  BIGINT  PRIMARY KEY,
    -- JSON arrays of Discord role ids (TEXT checked to parse, like every JSON column);
    -- [] = every member may.
    train_role_ids            TEXT    NOT NULL DEFAULT '[]' CHECK (train_role_ids::json IS NOT NULL),
    imagine_role_ids          TEXT    NOT NULL DEFAULT '[]'
                              CHECK (imagine_role_ids::json IS NOT NULL),
    -- Per UTC day (quotas reset at 00:00 UTC); NULL = unlimited.
    daily_trainings_per_user  INTEGER CHECK (daily_trainings_per_user > 0),
    daily_trainings_per_guild INTEGER CHECK (daily_trainings_per_guild > 0),
    daily_pictures_per_user   INTEGER CHECK (daily_pictures_per_user > 0),
    daily_pictures_per_guild  INTEGER CHECK (daily_pictures_per_guild > 0),
    paused                    INTEGER NOT NULL DEFAULT 0,
    safety_filter             INTEGER NOT NULL DEFAULT 1,
    updated_at                DOUBLE PRECISION NOT NULL,
    updated_by                BIGINT  NOT NULL
);

-- Today's quota use: a guild's jobs by kind and creation time.
CREATE INDEX jobs_by_guild ON jobs (guild_id, kind, created_at);
