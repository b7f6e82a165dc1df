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
