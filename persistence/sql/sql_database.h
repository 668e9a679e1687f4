#pragma once
// A small relational interface for the commerce services (catalog, inventory, carts,
// orders, users). Each service owns one SqlDatabase: its own SQLite file, or its own
// PostgreSQL schema (search_path is set to it), so the service boundaries of the
// seeds are database boundaries too.
//
// SQL is written once for both backends: placeholders are $1, $2, ... (SQLite binds
// them by name), and anything dialect-specific is chosen by dialect().
// Thread-safe: connections come from a pool; a transaction keeps one connection.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace keel::persistence {

using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;
using SqlParams = std::vector<SqlValue>;

// One result row; columns are read by position with the type the query promises.
class SqlRow {
 public:
  explicit SqlRow(std::vector<SqlValue> cols) : cols_(std::move(cols)) {}
  bool IsNull(size_t i) const { return std::holds_alternative<std::nullptr_t>(cols_.at(i)); }
  int64_t Int(size_t i) const;
  double Real(size_t i) const;
  std::string Text(size_t i) const;
  size_t size() const { return cols_.size(); }

 private:
  std::vector<SqlValue> cols_;
};
using SqlRows = std::vector<SqlRow>;

// Statements inside one transaction. Errors are typed: "constraint" (unique or check
// violation), "db_conflict" / "db_locked" (transient), "db_error".
class SqlTxn {
 public:
  virtual ~SqlTxn() = default;
  virtual Result<SqlRows> Query(std::string_view sql, const SqlParams& params = {}) = 0;
  // Runs a statement; returns the number of rows it changed.
  virtual Result<int64_t> Exec(std::string_view sql, const SqlParams& params = {}) = 0;
  // Several statements without parameters (migrations).
  virtual Status ExecScript(const std::string& sql) = 0;
};

class SqlDatabase {
 public:
  enum class Dialect : uint8_t { kSqlite, kPostgres };
  virtual ~SqlDatabase() = default;
  virtual Dialect dialect() const = 0;
  bool postgres() const { return dialect() == Dialect::kPostgres; }

  // Runs fn in one serializable-enough transaction: SQLite takes the write lock at
  // BEGIN (IMMEDIATE); PostgreSQL runs READ COMMITTED, so code that must serialize
  // takes row locks (FOR UPDATE). The transaction commits when fn returns Ok and
  // rolls back otherwise. Transient failures (busy, deadlock, lost connection before
  // COMMIT) run fn again, a few times, so fn must be safe to rerun. A fn that throws a
  // std::exception fails its own transaction with it. Transactions run at once may
  // share a commit (SQLite batches them, each in a savepoint of its own); each still
  // commits or rolls back alone.
  virtual Status Transact(const std::function<Status(SqlTxn&)>& fn) = 0;
  // A read-only statement outside any transaction.
  virtual Result<SqlRows> Query(std::string_view sql, const SqlParams& params = {}) = 0;
  // Brings the schema to migrations.size(): migration i is applied once, in order,
  // under a lock that serializes processes. A database newer than `migrations` is
  // refused (schema_too_new).
  virtual Status Migrate(const std::vector<std::string>& migrations) = 0;
  // The service name this database belongs to (file stem / schema suffix).
  virtual const std::string& name() const = 0;
};

struct SqlOpenOptions {
  int pool_size = 8;
  int busy_timeout_ms = 10'000;
  Millis connect_retry_ms = 30'000;
};

// Opens service `service`'s database for a --db URL: sqlite:DIR gives DIR/<service>.db;
// postgresql://... gives schema keel_<service> (or <schema>_<service> when the URL
// names schema=). `service` must be a lower-case identifier.
Result<std::unique_ptr<SqlDatabase>> OpenSqlDatabase(const std::string& db_url,
                                                     const std::string& service,
                                                     const SqlOpenOptions& options = {});
// Whether service `service`'s database exists for a --db URL, without creating it
// (the file DIR/<service>.db, or the schema).
Result<bool> SqlDatabaseExists(const std::string& db_url, const std::string& service);

}  // namespace keel::persistence
