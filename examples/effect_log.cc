#include "examples/effect_log.h"

#include <sqlite3.h>

#include <mutex>
#include <pqxx/pqxx>

#include "persistence/open_store.h"
#include "persistence/postgres/postgres_store.h"

namespace keel::examples {
namespace {

class SqliteEffectLog final : public EffectLog {
 public:
  ~SqliteEffectLog() override {
    if (db_) sqlite3_close_v2(db_);
  }
  Status Open(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      return Status::FailedPrecondition("cannot open effect log " + path, "db_unusable");
    }
    sqlite3_busy_timeout(db_, 10000);
    const char* schema =
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS effects(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT "
        "NULL, workflow_id TEXT NOT NULL, step INTEGER NOT NULL, kind TEXT NOT NULL);"
        "CREATE INDEX IF NOT EXISTS effects_key ON effects(key);"
        "CREATE TABLE IF NOT EXISTS duplicate_attempts(key TEXT NOT NULL);";
    if (sqlite3_exec(db_, schema, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Status::Internal(std::string("effect log schema: ") + sqlite3_errmsg(db_));
    }
    return Status::Ok();
  }

  Result<bool> Apply(const std::string& key, const std::string& workflow_id, int step,
                     const std::string& kind) override {
    std::lock_guard<std::mutex> l(mu_);
    // One conditional statement (SQLite serializes writers): at most once per key.
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_,
                       "INSERT INTO effects(key, workflow_id, step, kind) SELECT ?1,?2,?3,?4 "
                       "WHERE NOT EXISTS (SELECT 1 FROM effects WHERE key=?1)",
                       -1, &st, nullptr);
    sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, workflow_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, step);
    sqlite3_bind_text(st, 4, kind.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
      return Status::Unavailable(std::string("effect log: ") + sqlite3_errmsg(db_), "db_locked");
    }
    bool applied = sqlite3_changes(db_) == 1;
    if (!applied) {
      sqlite3_prepare_v2(db_, "INSERT INTO duplicate_attempts(key) VALUES(?1)", -1, &st, nullptr);
      sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_step(st);
      sqlite3_finalize(st);
    }
    return applied;
  }

  Result<std::vector<Effect>> ReadAll() override {
    std::lock_guard<std::mutex> l(mu_);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT seq, key, workflow_id, step, kind FROM effects ORDER BY seq",
                       -1, &st, nullptr);
    std::vector<Effect> out;
    while (sqlite3_step(st) == SQLITE_ROW) {
      out.push_back(
          {sqlite3_column_int64(st, 0), reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
           reinterpret_cast<const char*>(sqlite3_column_text(st, 2)), sqlite3_column_int(st, 3),
           reinterpret_cast<const char*>(sqlite3_column_text(st, 4))});
    }
    sqlite3_finalize(st);
    return out;
  }

  Result<int64_t> DuplicateAttempts() override {
    std::lock_guard<std::mutex> l(mu_);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT count(*) FROM duplicate_attempts", -1, &st, nullptr);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return n;
  }

 private:
  std::mutex mu_;
  sqlite3* db_ = nullptr;
};

class PostgresEffectLog final : public EffectLog {
 public:
  PostgresEffectLog(std::string url, std::string schema)
      : url_(std::move(url)), schema_(std::move(schema)) {}

  Status Open() {
    return Do("creating the effect log", [&](pqxx::work& w) {
      w.exec("SELECT pg_advisory_xact_lock(hashtext(" + w.quote(schema_) + "))");
      w.exec("CREATE SCHEMA IF NOT EXISTS " + schema_);
      w.exec("CREATE TABLE IF NOT EXISTS " + schema_ +
             ".effects(seq BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, "
             "workflow_id TEXT NOT NULL, step INT NOT NULL, kind TEXT NOT NULL)");
      w.exec("CREATE TABLE IF NOT EXISTS " + schema_ + ".duplicate_attempts(key TEXT NOT NULL)");
    });
  }

  Result<bool> Apply(const std::string& key, const std::string& workflow_id, int step,
                     const std::string& kind) override {
    bool applied = false;
    KEEL_RETURN_IF_ERROR(Do("applying an effect", [&](pqxx::work& w) {
      // One statement, safe under concurrency: the unique key makes it at most once.
      applied = w.exec_params("INSERT INTO " + schema_ +
                                  ".effects(key, workflow_id, step, kind) VALUES($1,$2,$3,$4) "
                                  "ON CONFLICT (key) DO NOTHING",
                              key, workflow_id, step, kind)
                    .affected_rows() == 1;
      if (!applied) {
        w.exec_params("INSERT INTO " + schema_ + ".duplicate_attempts(key) VALUES($1)", key);
      }
    }));
    return applied;
  }

  Result<std::vector<Effect>> ReadAll() override {
    std::vector<Effect> out;
    KEEL_RETURN_IF_ERROR(Do("reading effects", [&](pqxx::work& w) {
      for (const auto& r : w.exec("SELECT seq, key, workflow_id, step, kind FROM " + schema_ +
                                  ".effects ORDER BY seq")) {
        out.push_back(
            {r[0].as<int64_t>(), r[1].c_str(), r[2].c_str(), r[3].as<int>(), r[4].c_str()});
      }
    }));
    return out;
  }

  Result<int64_t> DuplicateAttempts() override {
    int64_t n = 0;
    KEEL_RETURN_IF_ERROR(Do("counting attempts", [&](pqxx::work& w) {
      n = w.exec("SELECT count(*) FROM " + schema_ + ".duplicate_attempts")[0][0].as<int64_t>();
    }));
    return n;
  }

 private:
  // One transaction; on a lost connection, once more on a new one (every use here is
  // idempotent: Apply is deduplicated by key).
  template <typename F>
  Status Do(const char* what, F&& f) {
    std::lock_guard<std::mutex> l(mu_);
    for (int attempt = 0;; ++attempt) {
      try {
        if (!conn_ || !conn_->is_open()) conn_ = std::make_unique<pqxx::connection>(url_);
        pqxx::work w(*conn_);
        f(w);
        w.commit();
        return Status::Ok();
      } catch (const std::exception& e) {
        conn_.reset();
        if (attempt >= 1) {
          return Status::Unavailable(std::string("effect log: ") + what + ": " + e.what(),
                                     "db_unreachable");
        }
      }
    }
  }

  std::mutex mu_;
  std::string url_, schema_;
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

Result<std::unique_ptr<EffectLog>> OpenEffectLog(const std::string& db_url) {
  if (db_url.rfind("sqlite:", 0) == 0) {
    KEEL_ASSIGN_OR_RETURN(std::string dir, persistence::SqliteDirOf(db_url));
    auto log = std::make_unique<SqliteEffectLog>();
    KEEL_RETURN_IF_ERROR(log->Open(dir + "/demo_effects.db"));
    return std::unique_ptr<EffectLog>(std::move(log));
  }
  KEEL_ASSIGN_OR_RETURN(persistence::PostgresOptions o, persistence::ParsePostgresUrl(db_url));
  auto log = std::make_unique<PostgresEffectLog>(o.url, o.schema + "_demo");
  KEEL_RETURN_IF_ERROR(log->Open());
  return std::unique_ptr<EffectLog>(std::move(log));
}

}  // namespace keel::examples
