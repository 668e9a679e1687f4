-- v1: the engine's tables.
CREATE TABLE executions(
  run_id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  task_queue TEXT NOT NULL,
  status INTEGER NOT NULL,
  version INTEGER NOT NULL,
  next_event_id INTEGER NOT NULL,
  wt_task_id INTEGER NOT NULL,
  start_time INTEGER NOT NULL,
  close_time INTEGER NOT NULL,
  result BLOB,
  failure BLOB,
  wt_failure BLOB
) WITHOUT ROWID;
CREATE INDEX executions_by_start ON executions(start_time DESC, run_id DESC);
CREATE INDEX executions_by_workflow_id ON executions(workflow_id);
CREATE TABLE current_executions(
  workflow_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE history(
  run_id TEXT NOT NULL,
  first_event_id INTEGER NOT NULL,
  last_event_id INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY(run_id, first_event_id)
) WITHOUT ROWID;
CREATE TABLE tasks(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  kind INTEGER NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  activity_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_token INTEGER NOT NULL,
  lease_expires INTEGER NOT NULL,
  lease_ms INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  start_deadline INTEGER NOT NULL,
  close_deadline INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  info BLOB
);
CREATE INDEX tasks_ready ON tasks(queue, kind, visible_at) WHERE lease_owner = '';
CREATE INDEX tasks_deadline ON tasks(deadline) WHERE deadline > 0;
CREATE INDEX tasks_by_run ON tasks(run_id, activity_id);
CREATE TABLE timers(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  timer_id TEXT NOT NULL,
  fire_at INTEGER NOT NULL
);
CREATE INDEX timers_fire ON timers(fire_at);
CREATE INDEX timers_by_run ON timers(run_id, timer_id);
