#pragma once
// The scale-out Store: PostgreSQL through libpqxx, for many worker processes on many
// machines. Same contract as the SQLite store (tests/persistence/store_conformance_test.cc).
//
// - Writers: a few connections, each taking a batch of queued TxnFns into one
//   transaction (group commit without savepoints). A second batch starts beside a
//   running one only when enough is queued (kParallelBatch), so batches grow with load. A TxnFn
//   that fails before writing leaves the batch alone; one that fails after writing, or any SQL
//   error, rolls the batch back: that TxnFn gets its error and the others run again in a new batch.
// - A commit whose outcome is unknown (the connection broke during COMMIT) is reported
//   as transient ("commit_in_doubt"); every engine transition is safe to run again.
// - Task leases use FOR UPDATE SKIP LOCKED; a worker's poll (PollTasks) is one UPDATE
//   in autocommit on a reader connection, beside the batches; optimistic versions fence
//   concurrent writers of one run; a timer row is deleted by whoever fires it first.
// - LISTEN/NOTIFY on channel "keel_<schema>" tells other processes about ready tasks
//   and closed runs within milliseconds (StoreListeners).
// - All tables live in one schema (default "keel_engine"), so several stores (or
//   tests) can share a database.

#include <exception>
#include <memory>
#include <string>

#include "persistence/store.h"

namespace keel::persistence {

struct PostgresOptions {
  std::string url;  // libpq URI, without Keel's own parameters
  std::string schema = "keel_engine";
  // Connections that run transactions. One per process makes the fewest, largest
  // commits, which is what a fleet of processes sharing one server needs; a lone
  // process may gain a little from 2 (docs/benchmarks.md).
  int writers = 1;
  int readers = 4;  // connections for snapshot reads
  int max_batch = 256;
  bool migrate = true;
  Clock* clock = nullptr;  // defaults to SystemClock
  // How long to keep trying to connect at start-up (with backoff) before giving up.
  Millis connect_retry_ms = 30'000;
};

// Splits Keel's own query parameters off a postgresql:// URL: schema=NAME (default
// keel_engine) and writers=N (writer connections, default 1).
Result<PostgresOptions> ParsePostgresUrl(const std::string& url);
// The backend's edge: a libpqxx exception as a typed Status (db_unreachable,
// db_auth_failed, commit_in_doubt, db_conflict, constraint, disk_full, ...).
Status PgStatus(const std::exception& e, const std::string& what);
// The URL with its password replaced by ***, for messages.
std::string RedactUrl(const std::string& url);

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options);

int PostgresSchemaVersionLatest();

}  // namespace keel::persistence
