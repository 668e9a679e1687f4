-- v3: child runs know their parent, so a closing child reports to it and a
-- closing parent finds its open children.
ALTER TABLE executions ADD COLUMN parent_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE executions ADD COLUMN parent BLOB NOT NULL DEFAULT X'';
ALTER TABLE executions ADD COLUMN children INTEGER NOT NULL DEFAULT 0;
CREATE INDEX executions_by_parent ON executions(parent_run_id, status) WHERE parent_run_id <> '';
CREATE INDEX executions_by_close ON executions(close_time) WHERE status <> 1;
