#include "persistence/sqlite/sqlite_sql_database.h"

#include <sqlite3.h>

#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "persistence/sql/connection_pool.h"
#include "persistence/sqlite/sqlite_db.h"

namespace keel::persistence {
namespace {

// One pooled connection with its prepared statements, keyed by SQL text.
struct Conn {
  struct Prepared {
    sqlite3_stmt* stmt = nullptr;
    std::vector<int> param_of;  // bind index (1-based) -> position in SqlParams
  };
  SqliteDb db;
  std::unordered_map<std::string, Prepared> cache;

  ~Conn() {
    for (auto& [sql, p] : cache) sqlite3_finalize(p.stmt);
  }

  Result<Prepared*> Prepare(std::string_view sql) {
    auto it = cache.find(std::string(sql));
    if (it != cache.end()) return &it->second;
    Prepared p;
    int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &p.stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(rc, db.handle(), "preparing " + std::string(sql));
    int n = sqlite3_bind_parameter_count(p.stmt);
    p.param_of.assign(n + 1, -1);
    for (int i = 1; i <= n; ++i) {
      const char* name = sqlite3_bind_parameter_name(p.stmt, i);
      if (name && name[0] == '$') p.param_of[i] = std::atoi(name + 1) - 1;
    }
    return &cache.emplace(std::string(sql), std::move(p)).first->second;
  }

  // Runs one statement; rows (if wanted) and the change count.
  Status Run(std::string_view sql, const SqlParams& params, SqlRows* rows, int64_t* changes) {
    KEEL_ASSIGN_OR_RETURN(Prepared * p, Prepare(sql));
    sqlite3_stmt* st = p->stmt;
    for (size_t i = 1; i < p->param_of.size(); ++i) {
      int at = p->param_of[i];
      if (at < 0 || at >= static_cast<int>(params.size())) {
        sqlite3_reset(st);
        return Status::InvalidArgument("statement parameter " + std::to_string(i) +
                                       " has no value: " + std::string(sql));
      }
      const SqlValue& v = params[at];
      if (const auto* n = std::get_if<int64_t>(&v)) {
        sqlite3_bind_int64(st, static_cast<int>(i), *n);
      } else if (const auto* d = std::get_if<double>(&v)) {
        sqlite3_bind_double(st, static_cast<int>(i), *d);
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        sqlite3_bind_text(st, static_cast<int>(i), s->data(), static_cast<int>(s->size()),
                          SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_null(st, static_cast<int>(i));
      }
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      if (!rows) continue;
      int n = sqlite3_column_count(st);
      std::vector<SqlValue> cols;
      cols.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(st, c)) {
          case SQLITE_INTEGER:
            cols.emplace_back(static_cast<int64_t>(sqlite3_column_int64(st, c)));
            break;
          case SQLITE_FLOAT:
            cols.emplace_back(sqlite3_column_double(st, c));
            break;
          case SQLITE_NULL:
            cols.emplace_back(nullptr);
            break;
          default: {
            const auto* b = static_cast<const char*>(sqlite3_column_blob(st, c));
            cols.emplace_back(std::string(b ? b : "", sqlite3_column_bytes(st, c)));
          }
        }
      }
      rows->emplace_back(std::move(cols));
    }
    Status s = SqliteStatus(rc, db.handle(), "running " + std::string(sql.substr(0, 80)));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (changes) *changes = sqlite3_changes(db.handle());
    return s;
  }
};

class Txn final : public SqlTxn {
 public:
  explicit Txn(Conn* c) : c_(c) {}
  Result<SqlRows> Query(std::string_view sql, const SqlParams& params) override {
    SqlRows rows;
    KEEL_RETURN_IF_ERROR(c_->Run(sql, params, &rows, nullptr));
    return rows;
  }
  Result<int64_t> Exec(std::string_view sql, const SqlParams& params) override {
    int64_t changes = 0;
    KEEL_RETURN_IF_ERROR(c_->Run(sql, params, nullptr, &changes));
    return changes;
  }
  Status ExecScript(const std::string& sql) override { return c_->db.Exec(sql); }

 private:
  Conn* c_;
};

class SqliteSqlDatabase final : public SqlDatabase {
 public:
  SqliteSqlDatabase(std::string path, std::string name, SqlOpenOptions o)
      : path_(std::move(path)), name_(std::move(name)), opts_(o) {}

  Status Init() {
    for (int i = 0; i < opts_.pool_size; ++i) {
      auto c = std::make_unique<Conn>();
      KEEL_RETURN_IF_ERROR(c->db.Open(path_, true, "FULL", opts_.busy_timeout_ms));
      pool_.Add(std::move(c));
    }
    return Status::Ok();
  }

  Dialect dialect() const override { return Dialect::kSqlite; }
  const std::string& name() const override { return name_; }

  Status Transact(const std::function<Status(SqlTxn&)>& fn) override {
    Status last;
    for (int attempt = 0; attempt < 5; ++attempt) {
      const auto began = std::chrono::steady_clock::now();
      ConnectionPool<Conn>::Lease l(pool_);
      Conn* c = l.get();
      last = c->db.Exec("BEGIN IMMEDIATE");
      if (last.ok()) {
        Txn t(c);
        last = fn(t);
        if (last.ok()) last = c->db.Exec("COMMIT");
        if (!last.ok()) (void)c->db.Exec("ROLLBACK");
      }
      if (last.ok() || last.reason() != "db_locked") return last;
      // A lock the busy handler waited out in full is held for good reason (another
      // process's long transaction): waiting that long again would only hold the
      // caller's thread. Quick lock errors (a snapshot that went stale) are retried.
      if (std::chrono::steady_clock::now() - began >=
          std::chrono::milliseconds(opts_.busy_timeout_ms)) {
        return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5 << attempt));
    }
    return last;
  }

  Result<SqlRows> Query(std::string_view sql, const SqlParams& params) override {
    ConnectionPool<Conn>::Lease l(pool_);
    SqlRows rows;
    KEEL_RETURN_IF_ERROR(l->Run(sql, params, &rows, nullptr));
    return rows;
  }

  Status Migrate(const std::vector<std::string>& migrations) override {
    return Transact([&](SqlTxn& t) -> Status {
      KEEL_ASSIGN_OR_RETURN(SqlRows r, t.Query("PRAGMA user_version"));
      int64_t version = r.empty() ? 0 : r[0].Int(0);
      int64_t latest = static_cast<int64_t>(migrations.size());
      if (version > latest) {
        return Status::FailedPrecondition(path_ + " has schema version " + std::to_string(version) +
                                              ", newer than this keel (" + std::to_string(latest) +
                                              "); run a newer keel",
                                          "schema_too_new");
      }
      for (int64_t v = version; v < latest; ++v) KEEL_RETURN_IF_ERROR(t.ExecScript(migrations[v]));
      return t.ExecScript("PRAGMA user_version=" + std::to_string(latest));
    });
  }

 private:
  std::string path_, name_;
  SqlOpenOptions opts_;
  ConnectionPool<Conn> pool_;
};

}  // namespace

Result<std::unique_ptr<SqlDatabase>> OpenSqliteSqlDatabase(const std::string& dir,
                                                           const std::string& service,
                                                           const SqlOpenOptions& options) {
  KEEL_RETURN_IF_ERROR(PrepareDataDir(dir));
  auto db = std::make_unique<SqliteSqlDatabase>(dir + "/" + service + ".db", service, options);
  KEEL_RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<SqlDatabase>(std::move(db));
}

}  // namespace keel::persistence
