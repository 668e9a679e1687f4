// Bad input gets a clear error and never crashes the worker.

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <thread>

#include "common/temp_dir.h"
#include "engine/engine.h"
#include "engine/payload.h"
#include "engine/testing/test_environment.h"
#include "engine/testing/wait.h"
#include "examples/demo_saga.h"
#include "persistence/history_codec.h"
#include "persistence/sqlite/sqlite_store.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

void RawExec(const std::string& dir, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/engine.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

proto::Failure WorkflowTaskFailure(persistence::Store& store, const std::string& id) {
  proto::Failure f;
  for (int i = 0; i < 3000; ++i) {
    auto row = store.ReadCurrentExecution(id).value();
    if (row && !row->wt_failure.empty()) {
      f.ParseFromString(row->wt_failure);
      return f;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return f;
}

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    examples::RegisterDemo(registry_, nullptr);
    env_ = TestEnvironment::Create(&registry_).value();
  }
  void ExpectWorkerStillWorks() {
    ASSERT_TRUE(env_->Start("DemoSaga", "after", json::parse(R"({"steps":2})")).ok());
    auto row = env_->RunUntilClosed("after");
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    EXPECT_EQ(row->status, ExecutionStatus::kCompleted);
  }
  Registry registry_;
  std::unique_ptr<TestEnvironment> env_;
};

TEST_F(BadInputTest, UnknownWorkflowTypeFailsTheTaskNotTheWorker) {
  StartWorkflowRequest req{"ghost", "NoSuchType", kDefaultWorkflowQueue, nullptr};
  ASSERT_TRUE(env_->engine().history().StartWorkflow(req).ok());
  proto::Failure f = WorkflowTaskFailure(env_->store(), "ghost");
  EXPECT_EQ(f.code(), "unknown_workflow_type");
  EXPECT_NE(f.message().find("NoSuchType"), std::string::npos);
  auto row = env_->store().ReadCurrentExecution("ghost").value();
  EXPECT_EQ(row->status, ExecutionStatus::kRunning);
  EXPECT_EQ(row->next_event_id, 3) << "history untouched: started + task scheduled";
  ExpectWorkerStillWorks();
}

TEST_F(BadInputTest, MalformedWorkflowInputFailsTheWorkflowClearly) {
  ASSERT_TRUE(env_->Start("DemoSaga", "bad-steps", json::parse(R"({"steps":"three"})")).ok());
  auto row = env_->RunUntilClosed("bad-steps").value();
  EXPECT_EQ(row.status, ExecutionStatus::kFailed);
  proto::Failure f;
  f.ParseFromString(row.failure);
  EXPECT_EQ(f.type(), "InvalidInput");
  EXPECT_NE(f.message().find("steps"), std::string::npos) << f.message();

  ASSERT_TRUE(env_->Start("DemoSaga", "not-object", json::value(7)).ok());
  EXPECT_EQ(env_->RunUntilClosed("not-object")->status, ExecutionStatus::kFailed);
  ASSERT_TRUE(env_->Start("DemoSaga", "range", json::parse(R"({"steps":2,"fail_at":9})")).ok());
  EXPECT_EQ(env_->RunUntilClosed("range")->status, ExecutionStatus::kFailed);
  ExpectWorkerStillWorks();
}

TEST_F(BadInputTest, OversizedPayloadIsRefusedAtStart) {
  std::string big(kMaxPayloadBytes + 10, 'x');
  StartWorkflowRequest req{"huge", "DemoSaga", kDefaultWorkflowQueue, json::value(big)};
  auto r = env_->engine().history().StartWorkflow(req);
  EXPECT_EQ(r.status().reason(), "payload_too_large");
  EXPECT_FALSE(env_->store().ReadCurrentExecution("huge").value().has_value());
}

TEST(BadInputStoreTest, HistoryWrittenByANewerKeelFailsTheTaskClearly) {
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto tmp = TempDir::Create("keel-bad").value();
  const std::string dir = tmp.path();
  persistence::SqliteOptions so;
  so.dir = dir;
  {
    auto store = persistence::OpenSqliteStore(so).value();
    auto client = MakeClientEngine(store.get(), &registry);
    StartWorkflowRequest req{"future", "DemoSaga", kDefaultWorkflowQueue,
                             json::parse(R"({"steps":1})")};
    ASSERT_TRUE(client->history().StartWorkflow(req).ok());
  }
  // Rewrite the stored batch as a future format version would.
  proto::HistoryBatch batch;
  batch.set_format_version(persistence::kHistoryFormatVersion + 1);
  std::string hex;
  for (unsigned char c : batch.SerializeAsString()) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  RawExec(dir, "UPDATE history SET data = x'" + hex + "'");
  auto store = persistence::OpenSqliteStore(so).value();
  EXPECT_EQ(store->ReadHistory(store->ReadCurrentExecution("future").value()->run_id, 1)
                .status()
                .reason(),
            "history_format_too_new");
  Engine engine(store.get(), &registry, EngineOptions());
  engine.Start();
  proto::Failure f = WorkflowTaskFailure(*store, "future");
  EXPECT_EQ(f.code(), "history_format_too_new");
  engine.Stop();
}

TEST(BadInputStoreTest, SchemaWrittenByANewerKeelIsRefused) {
  auto tmp = TempDir::Create("keel-bad").value();
  const std::string dir = tmp.path();
  persistence::SqliteOptions so;
  so.dir = dir;
  { ASSERT_TRUE(persistence::OpenSqliteStore(so).ok()); }
  RawExec(dir, "PRAGMA user_version=999");
  auto store = persistence::OpenSqliteStore(so);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().reason(), "schema_too_new");
  EXPECT_NE(store.status().message().find("999"), std::string::npos);
}

TEST(BadInputStoreTest, FullDiskIsAClearErrorAndLeavesNoPartialState) {
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto tmp = TempDir::Create("keel-bad").value();
  const std::string dir = tmp.path();
  persistence::SqliteOptions so;
  so.dir = dir;
  so.max_size_bytes = 512 * 1024;
  std::string last_id;
  {
    auto store = persistence::OpenSqliteStore(so).value();
    auto client = MakeClientEngine(store.get(), &registry);
    Status failure;
    for (int i = 0; i < 100 && failure.ok(); ++i) {
      last_id = "fill-" + std::to_string(i);
      StartWorkflowRequest req{last_id, "DemoSaga", kDefaultWorkflowQueue,
                               json::value(std::string(64 * 1024, 'x'))};
      auto r = client->history().StartWorkflow(req);
      if (!r.ok()) failure = r.status();
    }
    ASSERT_FALSE(failure.ok()) << "the size cap was never reached";
    EXPECT_EQ(failure.reason(), "disk_full") << failure.message();
    EXPECT_FALSE(store->ReadCurrentExecution(last_id).value().has_value());
  }
  // Space "freed": the same data dir works again.
  so.max_size_bytes = 0;
  auto store = persistence::OpenSqliteStore(so).value();
  Engine engine(store.get(), &registry, EngineOptions());
  engine.Start();
  StartWorkflowRequest req{"after-full", "DemoSaga", kDefaultWorkflowQueue,
                           json::parse(R"({"steps":1})")};
  ASSERT_TRUE(engine.history().StartWorkflow(req).ok());
  persistence::ExecutionRow row = WaitUntilClosed(*store, "after-full").value();
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  engine.Stop();
}

TEST(BadInputStoreTest, LockedDatabaseIsRetriedNotFatal) {
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto tmp = TempDir::Create("keel-bad").value();
  const std::string dir = tmp.path();
  persistence::SqliteOptions so;
  so.dir = dir;
  so.busy_timeout_ms = 100;
  auto store = persistence::OpenSqliteStore(so).value();
  // Another process-like connection takes the write lock.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/engine.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  // A raw store transaction sees a typed, transient error.
  Status direct = store->Transact([](persistence::Txn& t) { return t.GetExecution("x").status(); });
  EXPECT_EQ(direct.reason(), "db_locked");
  EXPECT_TRUE(direct.transient());
  // The engine retries: a start issued under the lock succeeds once it is released.
  Engine engine(store.get(), &registry, EngineOptions());
  engine.Start();
  std::thread release([other] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  StartWorkflowRequest req{"locked", "DemoSaga", kDefaultWorkflowQueue,
                           json::parse(R"({"steps":2})")};
  auto r = engine.history().StartWorkflow(req);
  release.join();
  sqlite3_close(other);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  persistence::ExecutionRow row = WaitUntilClosed(*store, "locked").value();
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  engine.Stop();
}

}  // namespace
}  // namespace keel
