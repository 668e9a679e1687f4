// Crash test: a `keel worker` process runs 200 DemoSagas (some with fail_at) whose
// activities sleep; it is SIGKILLed at random moments at least 5 times and
// restarted. Then every saga must be closed with the right result, every
// compensation must have run where due and in reverse order, and no effect may
// have been applied twice under one idempotency key.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "common/temp_dir.h"
#include "engine/engine.h"
#include "engine/payload.h"
#include "examples/demo_saga.h"
#include "persistence/sqlite/sqlite_store.h"
#include "tests/testing/demo.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

pid_t SpawnWorker(const std::string& dir, int generation) {
  return testutil::SpawnKeelWorker(KEEL_BINARY, "sqlite:" + dir,
                                   dir + "/worker-" + std::to_string(generation) + ".log",
                                   {"--concurrency", "8"});
}

struct Saga {
  std::string id;
  int steps, fail_at, activity_ms;
};

TEST(CrashTest, DemoSagasSurviveRepeatedSigkill) {
  auto tmp = TempDir::Create("keel-crash").value();
  const std::string dir = tmp.path();
  std::mt19937 rng(20261121);

  persistence::SqliteOptions so;
  so.dir = dir;
  auto store = persistence::OpenSqliteStore(so).value();
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto client = MakeClientEngine(store.get(), &registry);

  int generation = 0;
  pid_t worker = SpawnWorker(dir, generation++);

  std::vector<Saga> sagas;
  for (int i = 0; i < 200; ++i) {
    Saga s{"crash-" + std::to_string(i), 3 + i % 3, 0, 40 + static_cast<int>(rng() % 80)};
    if (i % 4 == 1) s.fail_at = 2 + i % 2;  // a quarter fail and compensate
    sagas.push_back(s);
    StartWorkflowRequest req{
        s.id, "DemoSaga", kDefaultWorkflowQueue,
        json::object{{"steps", s.steps}, {"fail_at", s.fail_at}, {"activity_ms", s.activity_ms}}};
    auto r = client->history().StartWorkflow(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  auto open_sagas = [&] {
    persistence::ListFilter f;
    f.status = ExecutionStatus::kRunning;
    f.limit = 1000;
    return store->ListExecutions(f).value().rows.size();
  };

  int kills_while_busy = 0;
  for (int k = 0; k < 6; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    size_t open_now = open_sagas();
    ASSERT_EQ(kill(worker, SIGKILL), 0);
    int status = 0;
    waitpid(worker, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the worker exited on its own: see " << dir;
    if (open_now > 0) ++kills_while_busy;
    worker = SpawnWorker(dir, generation++);
  }
  EXPECT_GE(kills_while_busy, 5) << "kills must land while sagas are in flight";

  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (open_sagas() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  kill(worker, SIGTERM);
  waitpid(worker, nullptr, 0);
  ASSERT_EQ(open_sagas(), 0u) << "sagas still open after 5 minutes; logs in " << dir;

  // 1. Every saga closed with the right result.
  for (const auto& s : sagas) {
    auto row = store->ReadCurrentExecution(s.id).value();
    ASSERT_TRUE(row.has_value());
    ASSERT_EQ(row->status, ExecutionStatus::kCompleted) << s.id;
    proto::Payload p;
    p.ParseFromString(row->result);
    EXPECT_EQ(FromPayload(p).value(), testutil::ExpectedDemoResult(s.steps, s.fail_at)) << s.id;
  }

  // 2. Effects: each applied exactly once, compensations after the steps, in reverse.
  auto log = examples::OpenEffectLog("sqlite:" + dir).value();
  auto effects = log->ReadAll().value();
  std::map<std::string, int> per_key;
  std::map<std::string, std::vector<std::pair<std::string, int>>> per_saga;
  for (const auto& e : effects) {
    ++per_key[e.key];
    per_saga[e.workflow_id].emplace_back(e.kind, e.step);
  }
  for (const auto& [key, n] : per_key) EXPECT_EQ(n, 1) << "effect applied twice: " << key;
  for (const auto& s : sagas) {
    EXPECT_EQ(per_saga[s.id], testutil::ExpectedDemoEffects(s.steps, s.fail_at)) << s.id;
  }
  int64_t dups = log->DuplicateAttempts().value();
  std::printf("crash test: %d kills while busy, %zu effects, %lld re-executions deduplicated\n",
              kills_while_busy, effects.size(), static_cast<long long>(dups));
  // Kills land after effects and before their completions were recorded, so steps
  // re-ran; without the idempotency key those would be duplicates above.
  EXPECT_GT(dups, 0) << "no step re-ran after a kill: the test did not exercise idempotency";

  if (HasFailure()) tmp.Keep();  // leave the logs and data for a look
}

}  // namespace
}  // namespace keel
