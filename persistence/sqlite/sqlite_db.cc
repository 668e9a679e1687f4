#include "persistence/sqlite/sqlite_db.h"

#include <chrono>
#include <filesystem>
#include <thread>

namespace keel::persistence {

Status PrepareDataDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return Status::FailedPrecondition("cannot create data dir " + dir + ": " + ec.message(),
                                      "db_unusable");
  }
  constexpr auto kOthers = fs::perms::group_all | fs::perms::others_all;
  auto st = fs::status(dir, ec);
  if (!ec && (st.permissions() & kOthers) != fs::perms::none) {
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::error_code fe;
    if (!entry.is_regular_file(fe)) continue;
    if ((entry.status(fe).permissions() & kOthers) != fs::perms::none) {
      fs::permissions(entry.path(), fs::perms::owner_read | fs::perms::owner_write, fe);
    }
  }
  return Status::Ok();
}

Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(msg +
                                     " (the database is locked by another process or "
                                     "connection; it is retried)",
                                 "db_locked");
    case SQLITE_FULL:
      return Status::ResourceExhausted(msg + " (free disk space; the write is retried)",
                                       "disk_full");
    case SQLITE_IOERR:
      return Status::Unavailable(msg, "io_error");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(msg, "db_corrupt");
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return Status::FailedPrecondition(msg, "db_unusable");
    case SQLITE_CONSTRAINT:
      return Status::AlreadyExists(msg, "constraint");
    default:
      return Status::Internal(msg, "db_error");
  }
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, st] : cache_) sqlite3_finalize(st);
  if (db_) sqlite3_close_v2(db_);
}

Status SqliteDb::Open(const std::string& path, bool create, std::string_view synchronous,
                      int busy_timeout_ms) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "opening " + path);
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  sqlite3_extended_result_codes(db_, 1);
  // Switching a new file to WAL needs a moment alone with it and does not wait on the
  // busy handler: when two processes create a data dir at once, retry for as long.
  Status wal = Exec("PRAGMA journal_mode=WAL");
  for (int waited = 0; wal.reason() == "db_locked" && waited < busy_timeout_ms; waited += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    wal = Exec("PRAGMA journal_mode=WAL");
  }
  KEEL_RETURN_IF_ERROR(wal);
  KEEL_RETURN_IF_ERROR(Exec("PRAGMA synchronous=" + std::string(synchronous)));
  KEEL_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=OFF"));
  return Exec("PRAGMA cache_size=-65536");
}

Status SqliteDb::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  return SqliteStatus(rc, db_, s.substr(0, 60));
}

Status SqliteDb::ExecCached(const char* sql) {
  auto st = Prepare(sql);
  if (!st.ok()) return st.status();
  SqliteStmt s(st.value());
  return Run(s, sql);
}

Result<sqlite3_stmt*> SqliteDb::Prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return it->second;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "preparing statement");
  cache_.emplace(sql, st);
  return st;
}

Status SqliteDb::Run(SqliteStmt& st, std::string_view what) {
  int rc = st.Step();
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::Ok();
  return SqliteStatus(rc, db_, what);
}

}  // namespace keel::persistence
