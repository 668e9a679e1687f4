#include "tests/testing/backends.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <random>

#include "persistence/open_store.h"
#include "persistence/postgres/postgres_store.h"

namespace keel::testutil {
namespace {

class SqliteInstance final : public BackendInstance {
 public:
  explicit SqliteInstance(TempDir dir) : dir_(std::move(dir)), url_("sqlite:" + dir_.path()) {}
  const std::string& url() const override { return url_; }
  Result<std::unique_ptr<persistence::Store>> Open(Clock* clock) override {
    persistence::OpenOptions o;
    o.clock = clock;
    return persistence::OpenStore(url_, o);
  }

 private:
  TempDir dir_;
  std::string url_;
};

class PostgresInstance final : public BackendInstance {
 public:
  PostgresInstance(std::string server, std::string schema)
      : server_(std::move(server)), schema_(std::move(schema)) {
    url_ = server_ + (server_.find('?') == std::string::npos ? "?" : "&") + "schema=" + schema_;
  }
  ~PostgresInstance() override {
    try {
      auto o = persistence::ParsePostgresUrl(server_);
      pqxx::connection c(o->url);
      pqxx::work w(c);
      w.exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
      w.exec("DROP SCHEMA IF EXISTS " + schema_ + "_demo CASCADE");
      for (const char* service :
           {"users", "catalog", "search", "inventory", "carts", "orders", "notifications", "api"}) {
        w.exec("DROP SCHEMA IF EXISTS " + schema_ + "_" + service + " CASCADE");
      }
      w.commit();
    } catch (const std::exception&) {
    }
  }
  const std::string& url() const override { return url_; }
  Result<std::unique_ptr<persistence::Store>> Open(Clock* clock) override {
    persistence::OpenOptions o;
    o.clock = clock;
    o.connect_retry_ms = 2000;
    return persistence::OpenStore(url_, o);
  }

 private:
  std::string server_, schema_, url_;
};

std::string RandomSchema() {
  static thread_local std::mt19937_64 gen(std::random_device{}());
  const char* hex = "0123456789abcdef";
  std::string s = "t_";
  for (int i = 0; i < 12; ++i) s += hex[gen() % 16];
  return s;
}

}  // namespace

std::optional<std::string> TestPgUrl() {
  const char* v = std::getenv("KEEL_TEST_PG_URL");
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

namespace {
// Records why a PostgreSQL case cannot run: a fatal failure under CI, a skip elsewhere.
void NoPostgres() {
  if (std::getenv("CI")) {
    FAIL() << "KEEL_TEST_PG_URL is not set under CI: ./test.sh starts a throwaway "
              "PostgreSQL and sets it; run the tests through ./test.sh";
  }
  GTEST_SKIP() << "PostgreSQL case skipped: set KEEL_TEST_PG_URL=postgresql://... "
                  "(./test.sh starts a throwaway server and sets it)";
}
}  // namespace

bool RequirePostgres() {
  if (TestPgUrl()) return true;
  NoPostgres();
  return false;
}

std::vector<Backend> AllBackends() {
  return {
      Backend{"sqlite",
              []() -> std::unique_ptr<BackendInstance> {
                return std::make_unique<SqliteInstance>(TempDir::Create("keel-test").value());
              }},
      Backend{"postgres",
              []() -> std::unique_ptr<BackendInstance> {
                if (!RequirePostgres()) return nullptr;
                return std::make_unique<PostgresInstance>(*TestPgUrl(), RandomSchema());
              }},
  };
}

}  // namespace keel::testutil
