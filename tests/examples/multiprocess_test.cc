// Three `keel worker` processes share one PostgreSQL store; one is SIGKILLed mid-run.
// All 500 DemoSagas must complete exactly once: one run each, the right result, and
// every effect applied once in saga order.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "common/temp_dir.h"
#include "engine/engine.h"
#include "engine/payload.h"
#include "examples/demo_saga.h"
#include "persistence/open_store.h"
#include "persistence/postgres/postgres_store.h"
#include "tests/testing/backends.h"
#include "tests/testing/demo.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

pid_t SpawnWorker(const std::string& url, const std::string& log) {
  return testutil::SpawnKeelWorker(KEEL_BINARY, url, log, {"--concurrency", "4"});
}

TEST(MultiProcessTest, ThreeWorkersOnPostgresOneKilledAllSagasExactlyOnce) {
  auto backends = testutil::AllBackends();
  auto pg = backends[1].make();
  if (!pg) return;  // skipped (or failed under CI) with a message
  ASSERT_EQ(backends[1].name, "postgres");
  auto logs = TempDir::Create("keel-mp").value();
  auto store_r = pg->Open(nullptr);
  ASSERT_TRUE(store_r.ok()) << store_r.status().ToString();
  auto store = std::move(store_r).value();
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto client = MakeClientEngine(store.get(), &registry);

  std::vector<pid_t> workers;
  for (int i = 0; i < 3; ++i) {
    workers.push_back(
        SpawnWorker(pg->url(), logs.path() + "/worker-" + std::to_string(i) + ".log"));
  }
  std::mt19937 rng(7);
  struct Saga {
    std::string id;
    int steps, fail_at;
  };
  std::vector<Saga> sagas;
  for (int i = 0; i < 500; ++i) {
    Saga s{"mp-" + std::to_string(i), 2 + i % 3, i % 5 == 2 ? 2 : 0};
    sagas.push_back(s);
    StartWorkflowRequest req{s.id, "DemoSaga", kDefaultWorkflowQueue,
                             json::object{{"steps", s.steps},
                                          {"fail_at", s.fail_at},
                                          {"activity_ms", 40 + static_cast<int>(rng() % 80)}}};
    auto r = client->history().StartWorkflow(req);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  auto open_count = [&] {
    persistence::ListFilter f;
    f.status = ExecutionStatus::kRunning;
    f.limit = 1000;
    return store->ListExecutions(f).value().rows.size();
  };
  // Kill one worker once the work is well under way.
  while (open_count() > 400) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  size_t open_at_kill = open_count();
  ASSERT_EQ(kill(workers[0], SIGKILL), 0);
  int status = 0;
  waitpid(workers[0], &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "worker 0 exited on its own; logs in " << logs.path();
  EXPECT_GE(open_at_kill, 100u) << "the kill must land while much work is left";

  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(4);
  while (open_count() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (size_t i = 1; i < workers.size(); ++i) {
    kill(workers[i], SIGTERM);
    waitpid(workers[i], nullptr, 0);
  }
  if (open_count() > 0) logs.Keep();
  ASSERT_EQ(open_count(), 0u) << "sagas still open; logs in " << logs.path();

  // One run per saga, each completed with the right result.
  persistence::ListFilter all;
  all.limit = 1000;
  EXPECT_EQ(store->ListExecutions(all).value().rows.size(), 500u) << "a saga ran twice";
  for (const auto& s : sagas) {
    auto row = store->ReadCurrentExecution(s.id).value();
    ASSERT_TRUE(row && row->status == ExecutionStatus::kCompleted) << s.id;
    proto::Payload p;
    p.ParseFromString(row->result);
    EXPECT_EQ(FromPayload(p).value(), testutil::ExpectedDemoResult(s.steps, s.fail_at)) << s.id;
  }
  // Every effect once, in saga order.
  auto log = examples::OpenEffectLog(pg->url()).value();
  std::map<std::string, std::vector<std::pair<std::string, int>>> per_saga;
  for (const auto& e : log->ReadAll().value()) per_saga[e.workflow_id].emplace_back(e.kind, e.step);
  for (const auto& s : sagas) {
    EXPECT_EQ(per_saga[s.id], testutil::ExpectedDemoEffects(s.steps, s.fail_at)) << s.id;
  }
  std::printf("multi-process: %zu sagas open at the kill, %lld re-executions deduplicated\n",
              open_at_kill, static_cast<long long>(log->DuplicateAttempts().value()));
}

// Kills every connection Keel has to the server, again and again, while sagas run:
// transitions are retried (a commit whose outcome was lost is safe to run again), and
// nothing is applied twice.
TEST(ConnectionLossTest, ConnectionsKilledMidTransactionAreRetriedWithoutDuplicates) {
  auto backends = testutil::AllBackends();
  auto pg = backends[1].make();
  if (!pg) return;
  // Our connections get a name of their own, so the killer spares other tests' ones.
  const std::string url = pg->url() + "&application_name=keel_conn_loss";
  persistence::OpenOptions oo;
  oo.connect_retry_ms = 5000;
  auto store = persistence::OpenStore(url, oo).value();
  Registry registry;
  auto effects = examples::OpenEffectLog(url).value();
  examples::RegisterDemo(registry, effects.get());
  Engine engine(store.get(), &registry, EngineOptions());
  engine.Start();
  const int kSagas = 150;
  for (int i = 0; i < kSagas; ++i) {
    StartWorkflowRequest req{
        "cl-" + std::to_string(i), "DemoSaga", kDefaultWorkflowQueue,
        json::object{{"steps", 4}, {"fail_at", i % 3 == 0 ? 3 : 0}, {"activity_ms", 60}}};
    ASSERT_TRUE(engine.history().StartWorkflow(req).ok());
  }
  // The killer uses its own connection (another application name) to end ours.
  auto admin = persistence::ParsePostgresUrl(*testutil::TestPgUrl()).value();
  std::string admin_url = admin.url;
  admin_url.replace(admin_url.find("application_name=keel"), 21, "application_name=killer");
  // Counted just before the first kill (a slow sanitizer build finishes sagas while
  // the kills are still being set up, so counting afterwards measured the wrong thing).
  int open_at_first_kill = -1;
  int killed = 0;
  for (int round = 0; round < 15; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    if (open_at_first_kill < 0) {
      persistence::ListFilter f;
      f.status = ExecutionStatus::kRunning;
      f.limit = 1000;
      auto page = store->ListExecutions(f);
      open_at_first_kill = page.ok() ? static_cast<int>(page->rows.size()) : 0;
    }
    pqxx::connection c(admin_url);
    pqxx::nontransaction t(c);
    killed +=
        static_cast<int>(t.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                "application_name = 'keel_conn_loss'")
                             .size());
  }
  EXPECT_GT(killed, 10);
  EXPECT_GT(open_at_first_kill, 50) << "kills must land while sagas run";
  persistence::ListFilter running;
  running.status = ExecutionStatus::kRunning;
  running.limit = 1000;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
  while (std::chrono::steady_clock::now() < deadline) {
    auto page = store->ListExecutions(running);
    if (page.ok() && page->rows.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  engine.Stop();
  std::map<std::string, std::vector<std::pair<std::string, int>>> per_saga;
  for (const auto& e : effects->ReadAll().value()) {
    per_saga[e.workflow_id].emplace_back(e.kind, e.step);
  }
  for (int i = 0; i < kSagas; ++i) {
    std::string id = "cl-" + std::to_string(i);
    auto row = store->ReadCurrentExecution(id).value();
    ASSERT_TRUE(row && row->status == ExecutionStatus::kCompleted) << id;
    EXPECT_EQ(per_saga[id], testutil::ExpectedDemoEffects(4, i % 3 == 0 ? 3 : 0)) << id;
  }
  std::printf("connection loss: %d backends killed\n", killed);
}

}  // namespace
}  // namespace keel
