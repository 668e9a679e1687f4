-- v3: child runs know their parent, so a closing child reports to it and a
-- closing parent finds its open children.
ALTER TABLE {s}.executions ADD COLUMN parent_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE {s}.executions ADD COLUMN parent BYTEA NOT NULL DEFAULT '';
ALTER TABLE {s}.executions ADD COLUMN children BIGINT NOT NULL DEFAULT 0;
CREATE INDEX executions_by_parent ON {s}.executions(parent_run_id, status) WHERE parent_run_id <> '';
CREATE INDEX executions_by_close ON {s}.executions(close_time) WHERE status <> 1;
