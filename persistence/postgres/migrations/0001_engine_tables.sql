-- v1: the engine's tables.
CREATE TABLE {s}.executions(
  run_id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  task_queue TEXT NOT NULL,
  status INT NOT NULL,
  version BIGINT NOT NULL,
  next_event_id BIGINT NOT NULL,
  wt_task_id BIGINT NOT NULL,
  start_time BIGINT NOT NULL,
  close_time BIGINT NOT NULL,
  result BYTEA NOT NULL,
  failure BYTEA NOT NULL,
  wt_failure BYTEA NOT NULL
);
CREATE INDEX executions_by_start ON {s}.executions(start_time DESC, run_id DESC);
CREATE INDEX executions_by_workflow_id ON {s}.executions(workflow_id);
CREATE TABLE {s}.current_executions(
  workflow_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL
);
CREATE TABLE {s}.history(
  run_id TEXT NOT NULL,
  first_event_id BIGINT NOT NULL,
  last_event_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY(run_id, first_event_id)
);
CREATE TABLE {s}.tasks(
  id BIGSERIAL PRIMARY KEY,
  queue TEXT NOT NULL,
  kind INT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  activity_id TEXT NOT NULL,
  attempt INT NOT NULL,
  visible_at BIGINT NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_token BIGINT NOT NULL,
  lease_expires BIGINT NOT NULL,
  lease_ms BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  start_deadline BIGINT NOT NULL,
  close_deadline BIGINT NOT NULL,
  deadline BIGINT NOT NULL,
  info BYTEA NOT NULL
);
CREATE INDEX tasks_ready ON {s}.tasks(queue, kind, visible_at) WHERE lease_owner = '';
CREATE INDEX tasks_deadline ON {s}.tasks(deadline) WHERE deadline > 0;
CREATE INDEX tasks_by_run ON {s}.tasks(run_id, activity_id);
CREATE TABLE {s}.timers(
  id BIGSERIAL PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  timer_id TEXT NOT NULL,
  fire_at BIGINT NOT NULL
);
CREATE INDEX timers_fire ON {s}.timers(fire_at);
CREATE INDEX timers_by_run ON {s}.timers(run_id, timer_id);
