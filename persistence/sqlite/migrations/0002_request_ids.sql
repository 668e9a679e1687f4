-- v2: client request ids, so retried signals and cancel requests apply once.
CREATE TABLE requests(
  run_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  PRIMARY KEY(run_id, request_id)
) WITHOUT ROWID;
