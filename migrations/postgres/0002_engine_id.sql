-- One name for the engine process throughout: the class is Engine, the command
-- `petbooth engine`, and the id it claims jobs and beats under is its engine_id.
ALTER TABLE jobs RENAME COLUMN worker_id TO engine_id;
ALTER TABLE engines RENAME COLUMN worker_id TO engine_id;
