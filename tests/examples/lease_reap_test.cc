// A worker SIGKILLed mid-step on this machine does not leave its sagas waiting for
// its leases to run out: the next worker to start sees that the lease holder's
// process is gone and takes its tasks back at once. The attempt it held fails with
// WorkerLost (not a lease timeout), which the retried attempt's history records.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "common/temp_dir.h"
#include "engine/engine.h"
#include "examples/demo_saga.h"
#include "persistence/sqlite/sqlite_store.h"
#include "tests/testing/demo.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

TEST(LeaseReapTest, AKilledWorkersStepsAreTakenBackWhenTheNextWorkerStarts) {
  auto tmp = TempDir::Create("keel-reap").value();
  const std::string dir = tmp.path(), url = "sqlite:" + dir;
  persistence::SqliteOptions so;
  so.dir = dir;
  auto store = persistence::OpenSqliteStore(so).value();
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto client = MakeClientEngine(store.get(), &registry);

  pid_t worker = testutil::SpawnKeelWorker(KEEL_BINARY, url, dir + "/w1.log", {});
  const int kSagas = 5;
  // Steps of 3 s: a lease of 30 s (start-to-close is 10 times the step).
  for (int i = 0; i < kSagas; ++i) {
    StartWorkflowRequest req{"reap-" + std::to_string(i), "DemoSaga", kDefaultWorkflowQueue,
                             json::object{{"steps", 2}, {"fail_at", 0}, {"activity_ms", 3000}}};
    ASSERT_TRUE(client->history().StartWorkflow(req).ok());
  }
  auto leased = [&] {
    auto t = store->ListLeasedTasks(100);
    int n = 0;
    for (const auto& row : t.value()) n += !row.activity_id.empty();
    return n;
  };
  for (int i = 0; i < 1000 && leased() < kSagas; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(leased(), kSagas) << "the first worker never held every step";
  kill(worker, SIGKILL);
  waitpid(worker, nullptr, 0);
  worker = testutil::SpawnKeelWorker(KEEL_BINARY, url, dir + "/w2.log", {});

  auto open = [&] {
    persistence::ListFilter f;
    f.status = ExecutionStatus::kRunning;
    return store->ListExecutions(f).value().rows.size();
  };
  for (int i = 0; i < 600 && open() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(worker, SIGTERM);
  waitpid(worker, nullptr, 0);
  ASSERT_EQ(open(), 0u) << "logs in " << dir;
  for (int i = 0; i < kSagas; ++i) {
    const std::string id = "reap-" + std::to_string(i);
    auto row = store->ReadCurrentExecution(id).value();
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->status, ExecutionStatus::kCompleted) << id;
    bool lost = false, timed_out = false;
    for (const auto& e : store->ReadHistory(row->run_id, 1).value()) {
      if (!e.has_activity_task_started() || !e.activity_task_started().has_last_failure()) continue;
      const std::string& type = e.activity_task_started().last_failure().type();
      lost = lost || type == "WorkerLost";
      timed_out = timed_out || type == "StartToCloseTimeout";
    }
    EXPECT_TRUE(lost) << id << ": the step held by the killed worker was not taken back";
    EXPECT_FALSE(timed_out) << id << ": the step waited for its lease to run out";
  }
}

}  // namespace
}  // namespace keel
