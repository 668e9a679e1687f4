#include "persistence/sqlite/sqlite_sql_database.h"

#include <sqlite3.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
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

  // Group commit: callers queue their fns; one of them at a time leads, running every
  // fn queued so far in one transaction, each in a savepoint of its own (a failing fn
  // rolls back alone), with one COMMIT and so one fsync for all. Alone, a fn runs at
  // once in a transaction of its own. Writers of this process never meet SQLite's
  // busy handler (which sleeps); other processes' writers still may.
  Status Transact(const std::function<Status(SqlTxn&)>& fn) override {
    // A fn that opened another transaction of this database would wait for itself.
    if (tls_leading_ == this) {
      return Status::Internal("a transaction of the " + name_ + " database began inside another",
                              "nested_transaction");
    }
    Request me{&fn};
    std::unique_lock<std::mutex> l(mu_);
    queue_.push_back(&me);
    while (!me.done) {
      if (leading_) {
        cv_.wait(l);
        continue;
      }
      leading_ = true;
      const size_t n = std::min(queue_.size(), kMaxBatch);
      std::vector<Request*> batch(queue_.begin(), queue_.begin() + n);
      queue_.erase(queue_.begin(), queue_.begin() + n);
      l.unlock();
      RunBatch(batch);
      l.lock();
      for (Request* r : batch) r->done = true;
      leading_ = false;
      cv_.notify_all();
    }
    return me.status;
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
  struct Request {
    const std::function<Status(SqlTxn&)>* fn;
    Status status;
    bool done = false;
  };
  static constexpr size_t kMaxBatch = 64;

  // Runs a batch in one transaction; busy (another process holds the write lock) runs
  // it again after a pause, a few times, unless the busy handler waited out in full.
  void RunBatch(const std::vector<Request*>& batch) {
    tls_leading_ = this;
    struct Clear {
      ~Clear() { tls_leading_ = nullptr; }
    } clear;
    Status last;
    for (int attempt = 0; attempt < 5; ++attempt) {
      const auto began = std::chrono::steady_clock::now();
      last = RunOnce(batch);
      if (last.ok() || last.reason() != "db_locked") break;
      if (std::chrono::steady_clock::now() - began >=
          std::chrono::milliseconds(opts_.busy_timeout_ms)) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5 << attempt));
    }
    if (!last.ok()) {
      for (Request* r : batch) r->status = last;
    }
  }

  // Ok once committed, each request holding its fn's status; otherwise nothing of the
  // batch is written and the failure is returned.
  Status RunOnce(const std::vector<Request*>& batch) {
    ConnectionPool<Conn>::Lease l(pool_);
    Conn* c = l.get();
    KEEL_RETURN_IF_ERROR(c->db.Exec("BEGIN IMMEDIATE"));
    Txn t(c);
    const bool alone = batch.size() == 1;
    bool any_ok = false;
    for (Request* r : batch) {
      if (!alone) {
        Status sp = c->db.Exec("SAVEPOINT fn");
        if (!sp.ok()) {
          (void)c->db.Exec("ROLLBACK");
          return sp;
        }
      }
      try {
        r->status = (*r->fn)(t);
      } catch (const std::exception& e) {
        r->status = Status::Internal(std::string("in the ") + name_ + " database: " + e.what());
      }
      if (alone) break;
      if (!r->status.ok()) (void)c->db.Exec("ROLLBACK TO fn");
      Status released = c->db.Exec("RELEASE fn");
      if (!released.ok()) {
        (void)c->db.Exec("ROLLBACK");
        return released;
      }
      any_ok = any_ok || r->status.ok();
    }
    if (alone) any_ok = batch[0]->status.ok();
    if (!any_ok) {
      (void)c->db.Exec("ROLLBACK");
      // A lone fn that failed for the lock (a stale snapshot) is retried like a batch.
      return alone && batch[0]->status.reason() == "db_locked" ? batch[0]->status : Status::Ok();
    }
    Status committed = c->db.Exec("COMMIT");
    if (!committed.ok()) (void)c->db.Exec("ROLLBACK");
    return committed;
  }

  std::string path_, name_;
  SqlOpenOptions opts_;
  ConnectionPool<Conn> pool_;
  std::mutex mu_;  // guards the queue and leading_
  std::condition_variable cv_;
  std::deque<Request*> queue_;
  bool leading_ = false;
  static thread_local const SqliteSqlDatabase* tls_leading_;  // whose batch this thread runs
};

thread_local const SqliteSqlDatabase* SqliteSqlDatabase::tls_leading_ = nullptr;

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
