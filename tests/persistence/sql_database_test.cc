// The service databases on both stores: transactions run at once from many threads
// commit or fail each on its own, whatever the store batches together; one that
// throws fails with what it threw.

#include "persistence/sql/sql_database.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/testing/backends.h"

namespace keel::persistence {
namespace {

class SqlDatabaseTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();  // null: the backend recorded why (skip or failure)
    if (!backend_) return;
    SqlOpenOptions o;
    o.pool_size = 4;
    auto db = OpenSqlDatabase(backend_->url(), "sqltest", o);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->Migrate({"CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"}).ok());
  }
  int64_t Count(const std::string& where) {
    return db_->Query("SELECT count(*) FROM t WHERE " + where).value()[0].Int(0);
  }

  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<SqlDatabase> db_;
};

TEST_P(SqlDatabaseTest, ConcurrentTransactionsCommitOrFailEachOnItsOwn) {
  if (!db_) return;
  const int kThreads = 48;
  std::atomic<int> ok{0}, refused{0}, threw{0}, escaped{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      try {
        Status s = db_->Transact([&](SqlTxn& t) -> Status {
          KEEL_RETURN_IF_ERROR(
              t.Exec("INSERT INTO t(k, v) VALUES($1, $2)", {int64_t{i}, std::string("row")})
                  .status());
          // A second write that must go with the first, or neither.
          KEEL_RETURN_IF_ERROR(
              t.Exec("INSERT INTO t(k, v) VALUES($1, $2)", {int64_t{1000 + i}, std::string("pair")})
                  .status());
          if (i % 3 == 1) return Status::FailedPrecondition("refused", "refused");
          if (i % 3 == 2 && i % 2 == 0) throw std::runtime_error("boom");
          return Status::Ok();
        });
        if (s.ok()) {
          ++ok;
        } else if (s.message().find("boom") != std::string::npos) {
          ++threw;
        } else {
          ++refused;
        }
      } catch (const std::exception&) {
        ++escaped;
      }
    });
  }
  for (auto& t : threads) t.join();
  int expect_refused = 0, expect_thrown = 0;
  for (int i = 0; i < kThreads; ++i) {
    expect_refused += i % 3 == 1;
    expect_thrown += i % 3 == 2 && i % 2 == 0;
  }
  EXPECT_EQ(refused.load(), expect_refused);
  EXPECT_EQ(threw.load(), expect_thrown);
  EXPECT_EQ(escaped.load(), 0);
  EXPECT_EQ(ok.load(), kThreads - expect_refused - expect_thrown);
  EXPECT_EQ(Count("k < 1000"), ok.load());
  EXPECT_EQ(Count("k >= 1000"), ok.load());
  for (int i = 0; i < kThreads; ++i) {
    const bool kept = i % 3 == 0 || (i % 3 == 2 && i % 2 == 1);
    EXPECT_EQ(Count("k = " + std::to_string(i)), kept ? 1 : 0) << i;
    EXPECT_EQ(Count("k = " + std::to_string(1000 + i)), kept ? 1 : 0) << i;
  }
  // A key taken by a committed row is refused, and the database goes on.
  Status dup = db_->Transact(
      [](SqlTxn& t) { return t.Exec("INSERT INTO t(k, v) VALUES(0, 'again')").status(); });
  EXPECT_FALSE(dup.ok());
  EXPECT_TRUE(db_->Transact([](SqlTxn& t) {
                   return t.Exec("INSERT INTO t(k, v) VALUES(5000, 'after')").status();
                 })
                  .ok());
}

// A transaction begun inside another of the same database fails at once on SQLite
// (it would wait for the one that runs it), and is a transaction of its own on
// PostgreSQL: neither hangs.
TEST_P(SqlDatabaseTest, ATransactionInsideAnotherDoesNotHang) {
  if (!db_) return;
  Status inner;
  Status outer = db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO t(k, v) VALUES(1, 'outer')").status());
    inner = db_->Transact(
        [](SqlTxn& t2) { return t2.Exec("INSERT INTO t(k, v) VALUES(2, 'inner')").status(); });
    return Status::Ok();
  });
  EXPECT_TRUE(outer.ok()) << outer.ToString();
  if (!db_->postgres()) {
    EXPECT_EQ(inner.reason(), "nested_transaction") << inner.ToString();
  }
  EXPECT_EQ(Count("k = 1"), 1);
}

INSTANTIATE_TEST_SUITE_P(Stores, SqlDatabaseTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel::persistence
