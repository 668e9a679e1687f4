#pragma once
// The embedded Store: SQLite in WAL mode, one file `engine.db` in a data dir.
//
// One writer thread per process owns the write connection and runs every submitted
// TxnFn; it takes all queued TxnFns (up to max_batch) into one BEGIN IMMEDIATE ...
// COMMIT, each in its own savepoint (group commit). Reads use a small pool of
// read connections and see the last committed state. Several processes may share a
// data dir: SQLite's file locks serialize their writers (busy_timeout), and each
// process's transactions are still atomic.

#include <memory>
#include <string>

#include "persistence/store.h"

namespace keel::persistence {

struct SqliteOptions {
  std::string dir;                   // the data dir; created if missing
  std::string synchronous = "FULL";  // FULL (default), NORMAL or OFF
  int busy_timeout_ms = 5000;
  int max_batch = 512;  // TxnFns per group commit at most
  int readers = 4;
  bool migrate = true;         // create or upgrade the schema on open
  int64_t max_size_bytes = 0;  // cap on engine.db (0 = none); past it writes fail
                               // with reason "disk_full", as on a full disk
  Clock* clock = nullptr;      // defaults to SystemClock
};

// Opens the store. Fails with reason "schema_too_new" if the data dir was written by
// a newer Keel, and "schema_out_of_date" if it is older and migrate is false.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options);

// The schema version this binary writes.
int SqliteSchemaVersionLatest();

}  // namespace keel::persistence
