-- Today's quota use of pets forgotten today: the same table as migrations/sqlite/0008.
CREATE TABLE forgotten_use (
    guild_id   BIGINT  NOT NULL,
    owner_id   BIGINT  NOT NULL,
    day_start  BIGINT  NOT NULL,  -- 00:00 UTC of the day, Unix seconds
    trainings  INTEGER NOT NULL DEFAULT 0,
    pictures   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, owner_id, day_start)
);
