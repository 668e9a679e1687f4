#include "persistence/postgres/postgres_sql_database.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <pqxx/pqxx>
#include <thread>
#include <unordered_map>

#include "persistence/postgres/postgres_store.h"
#include "persistence/sql/connection_pool.h"

namespace keel::persistence {
namespace {

constexpr unsigned kBoolOid = 16, kInt8Oid = 20, kInt2Oid = 21, kInt4Oid = 23, kFloat4Oid = 700,
                   kFloat8Oid = 701, kNumericOid = 1700;

struct Conn {
  std::unique_ptr<pqxx::connection> c;
  std::unordered_map<std::string, std::string> prepared;  // SQL -> statement name

  const std::string& Prepared(std::string_view sql) {
    auto it = prepared.find(std::string(sql));
    if (it != prepared.end()) return it->second;
    std::string name = "k" + std::to_string(prepared.size());
    c->prepare(name, std::string(sql));
    return prepared.emplace(std::string(sql), name).first->second;
  }
};

pqxx::result Run(Conn* c, pqxx::work& w, std::string_view sql, const SqlParams& params) {
  std::vector<std::string> text(params.size());
  std::vector<const char*> ptrs(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    const SqlValue& v = params[i];
    if (const auto* n = std::get_if<int64_t>(&v)) {
      text[i] = std::to_string(*n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      text[i] = pqxx::to_string(*d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      text[i] = *s;
    } else {
      continue;  // NULL
    }
    ptrs[i] = text[i].c_str();
  }
  return w.exec_prepared(c->Prepared(sql), pqxx::prepare::make_dynamic_params(ptrs));
}

SqlRows ToRows(const pqxx::result& r) {
  SqlRows rows;
  rows.reserve(r.size());
  const int ncols = r.columns();
  std::vector<unsigned> types(ncols);
  for (int i = 0; i < ncols; ++i) types[i] = r.column_type(i);
  for (const auto& row : r) {
    std::vector<SqlValue> cols;
    cols.reserve(ncols);
    for (int i = 0; i < ncols; ++i) {
      const pqxx::field f = row[i];
      if (f.is_null()) {
        cols.emplace_back(nullptr);
      } else if (types[i] == kInt8Oid || types[i] == kInt4Oid || types[i] == kInt2Oid) {
        cols.emplace_back(f.as<int64_t>());
      } else if (types[i] == kFloat8Oid || types[i] == kFloat4Oid || types[i] == kNumericOid) {
        cols.emplace_back(f.as<double>());
      } else if (types[i] == kBoolOid) {
        cols.emplace_back(static_cast<int64_t>(f.as<bool>() ? 1 : 0));
      } else {
        cols.emplace_back(std::string(f.c_str(), f.size()));
      }
    }
    rows.emplace_back(std::move(cols));
  }
  return rows;
}

class Txn final : public SqlTxn {
 public:
  Txn(Conn* c, pqxx::work* w) : c_(c), w_(w) {}
  Result<SqlRows> Query(std::string_view sql, const SqlParams& params) override {
    return ToRows(Run(c_, *w_, sql, params));
  }
  Result<int64_t> Exec(std::string_view sql, const SqlParams& params) override {
    return static_cast<int64_t>(Run(c_, *w_, sql, params).affected_rows());
  }
  Status ExecScript(const std::string& sql) override {
    w_->exec(sql);
    return Status::Ok();
  }

 private:
  Conn* c_;
  pqxx::work* w_;
};

class PgSqlDatabase final : public SqlDatabase {
 public:
  PgSqlDatabase(std::string url, std::string schema, std::string name, SqlOpenOptions o)
      : url_(std::move(url)), schema_(std::move(schema)), name_(std::move(name)), opts_(o) {}

  Status Init() {
    for (int i = 0; i < opts_.pool_size; ++i) {
      auto c = std::make_unique<Conn>();
      pool_.Add(std::move(c));
    }
    // Connect one now, so a bad URL or password is reported at start-up (with retry).
    {
      ConnectionPool<Conn>::Lease l(pool_);
      KEEL_RETURN_IF_ERROR(EnsureConnected(l.get(), opts_.connect_retry_ms));
    }
    // The service's namespace exists once it is opened (as a SQLite file does), so
    // tables created outside Migrate() have somewhere to go.
    return Transact([&](SqlTxn& t) {
      return t.ExecScript("SELECT pg_advisory_xact_lock(hashtext('" + schema_ +
                          "'));CREATE SCHEMA IF NOT EXISTS " + schema_);
    });
  }

  Dialect dialect() const override { return Dialect::kPostgres; }
  const std::string& name() const override { return name_; }

  Status Transact(const std::function<Status(SqlTxn&)>& fn) override {
    Status last;
    for (int attempt = 0; attempt < 5; ++attempt) {
      ConnectionPool<Conn>::Lease l(pool_);
      last = EnsureConnected(l.get(), 2000);
      if (!last.ok()) return last;
      bool committing = false;
      try {
        pqxx::work w(*l->c);
        Txn t(l.get(), &w);
        last = fn(t);
        if (last.ok()) {
          committing = true;
          w.commit();
        }
        // Without commit, ~work rolls back.
      } catch (const std::exception& e) {
        last = PgStatus(e, "in " + name_ + " database");
        if (last.reason() == "db_unreachable" || last.reason() == "commit_in_doubt") {
          l->c.reset();  // reconnect on next use
        }
        if (committing && last.reason() != "db_conflict") return last;
      }
      if (last.ok() || !(last.reason() == "db_conflict" || last.reason() == "db_unreachable")) {
        return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5 << attempt));
    }
    return last;
  }

  Result<SqlRows> Query(std::string_view sql, const SqlParams& params) override {
    SqlRows rows;
    Status s = Transact([&](SqlTxn& t) -> Status {
      KEEL_ASSIGN_OR_RETURN(rows, t.Query(sql, params));
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return rows;
  }

  Status Migrate(const std::vector<std::string>& migrations) override {
    return Transact([&](SqlTxn& t) -> Status {
      // One migrator at a time across processes.
      KEEL_RETURN_IF_ERROR(t.ExecScript("SELECT pg_advisory_xact_lock(hashtext('" + schema_ +
                                        "'));CREATE SCHEMA IF NOT EXISTS " + schema_ +
                                        ";CREATE TABLE IF NOT EXISTS " + schema_ +
                                        ".schema_version(version INT NOT NULL)"));
      KEEL_ASSIGN_OR_RETURN(SqlRows r, t.Query("SELECT version FROM schema_version"));
      int64_t version = r.empty() ? 0 : r[0].Int(0);
      int64_t latest = static_cast<int64_t>(migrations.size());
      if (version > latest) {
        return Status::FailedPrecondition("schema " + schema_ + " has version " +
                                              std::to_string(version) + ", newer than this keel (" +
                                              std::to_string(latest) + "); run a newer keel",
                                          "schema_too_new");
      }
      for (int64_t v = version; v < latest; ++v) KEEL_RETURN_IF_ERROR(t.ExecScript(migrations[v]));
      if (version != latest) {
        KEEL_RETURN_IF_ERROR(
            t.ExecScript("DELETE FROM schema_version;INSERT INTO "
                         "schema_version VALUES(" +
                         std::to_string(latest) + ")"));
      }
      return Status::Ok();
    });
  }

 private:
  Status EnsureConnected(Conn* c, Millis retry_ms) {
    if (c->c && c->c->is_open()) return Status::Ok();
    Millis waited = 0, delay = 100;
    for (;;) {
      try {
        c->prepared.clear();
        c->c = std::make_unique<pqxx::connection>(url_);
        c->c->set_variable("search_path", schema_);
        return Status::Ok();
      } catch (const std::exception& e) {
        c->c.reset();
        Status s = PgStatus(e, "connecting the " + name_ + " database to " + RedactUrl(url_));
        bool retry = s.reason() == "db_unreachable" || s.reason() == "db_auth_failed";
        if (!retry || waited >= retry_ms) return s;
        spdlog::warn("{}; retrying in {} ms", s.message(), delay);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
        waited += delay;
        delay = std::min<Millis>(delay * 2, 5000);
      }
    }
  }

  std::string url_, schema_, name_;
  SqlOpenOptions opts_;
  ConnectionPool<Conn> pool_;
};

}  // namespace

Result<std::unique_ptr<SqlDatabase>> OpenPostgresSqlDatabase(const std::string& url,
                                                             const std::string& schema,
                                                             const std::string& service,
                                                             const SqlOpenOptions& options) {
  auto db = std::make_unique<PgSqlDatabase>(url, schema, service, options);
  KEEL_RETURN_IF_ERROR(db->Init());
  return std::unique_ptr<SqlDatabase>(std::move(db));
}

Result<bool> PostgresSchemaExists(const std::string& url, const std::string& schema) {
  try {
    pqxx::connection c(url);
    pqxx::nontransaction t(c);
    pqxx::result r =
        t.exec_params("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", schema);
    return !r.empty();
  } catch (const std::exception& e) {
    return PgStatus(e, "looking for schema " + schema + " at " + RedactUrl(url));
  }
}

}  // namespace keel::persistence
