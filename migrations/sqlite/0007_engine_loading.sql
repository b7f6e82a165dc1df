-- An engine loading its model while idle (engine/process.py, `_warm_up`): 1 until the
-- pipeline is resident, so /status says why it claims nothing yet (minutes, the first time
-- SDXL is downloaded) instead of calling it idle.
ALTER TABLE engines ADD COLUMN loading INTEGER NOT NULL DEFAULT 0;
