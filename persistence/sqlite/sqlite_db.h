#pragma once
// A thin owner of one sqlite3 connection: cached prepared statements and the
// translation of sqlite3 result codes into typed Statuses (the backend's edge).
// Not thread-safe: one thread uses a SqliteDb at a time.

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace keel::persistence {

// Makes the data dir `dir` if needed, and makes it private: the dir 0700, the files
// in it 0600 (a dir made by an older version is tightened). The token-signing key,
// password hashes and ledgers live there. db_unusable when it cannot be made.
Status PrepareDataDir(const std::string& dir);

// Maps a sqlite3 result code to a Status naming `what` was being done.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

class SqliteStmt {
 public:
  explicit SqliteStmt(sqlite3_stmt* s) : s_(s) {}
  ~SqliteStmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  SqliteStmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  SqliteStmt& Bind(int i, int v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  SqliteStmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqliteStmt& BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int Step() { return sqlite3_step(s_); }
  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(s_, col));
    return p ? std::string(p, sqlite3_column_bytes(s_, col)) : std::string();
  }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
};

class SqliteDb {
 public:
  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens (creating if asked) with WAL, the given synchronous mode and busy timeout.
  Status Open(const std::string& path, bool create, std::string_view synchronous,
              int busy_timeout_ms);
  Status Exec(std::string_view sql);
  // Exec for a fixed statement, prepared once (the hot-path BEGIN/SAVEPOINT/COMMIT).
  Status ExecCached(const char* sql);
  // A cached statement; valid until this SqliteDb is destroyed.
  Result<sqlite3_stmt*> Prepare(const char* sql);
  sqlite3* handle() const { return db_; }
  // Runs a statement that returns no rows.
  Status Run(SqliteStmt& st, std::string_view what);

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

}  // namespace keel::persistence
