-- An engine loading its model while idle: the same column as migrations/sqlite/0007.
ALTER TABLE engines ADD COLUMN loading INTEGER NOT NULL DEFAULT 0;
