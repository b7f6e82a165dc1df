-- Several bot processes (shards) share one outbox: each claims the events it delivers, under
-- a lease, and marks an event "sending" before every Discord call (bot/delivery/_cog.py).
-- The same columns as migrations/sqlite/0004.

ALTER TABLE events ADD COLUMN claimed_by TEXT;                  -- the bot process delivering it
ALTER TABLE events ADD COLUMN claim_until DOUBLE PRECISION;     -- its lease; then any may take it
ALTER TABLE events ADD COLUMN sending_at DOUBLE PRECISION;      -- latest attempt's start
-- Discord snowflake below every message that attempt can have posted (its start by the bot's
-- clock, minus a margin): a process taking the event over searches the channel from there.
ALTER TABLE events ADD COLUMN sending_after_id BIGINT;

-- An event left undelivered by a bot from before this schema may have been posted soon
-- after it was created: mark it sending from then (2 minutes earlier, for clock skew).
-- 1420070400 is Discord's epoch (2015-01-01) in Unix seconds.
UPDATE events
   SET sending_at = created_at,
       sending_after_id = CAST(floor((created_at - 1420070400 - 120) * 1000) AS BIGINT) * 4194304
 WHERE delivered_at IS NULL;
