-- v7: who polls each task queue. A process's worker pool writes its row every few
-- seconds while it runs; operators see the recent ones per queue.
CREATE TABLE pollers (
  queue TEXT NOT NULL,
  kind INTEGER NOT NULL,
  identity TEXT NOT NULL,
  last_poll_at INTEGER NOT NULL,
  PRIMARY KEY (queue, kind, identity)
) WITHOUT ROWID;
