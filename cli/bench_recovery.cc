// keel bench recovery: how long a crashed worker's sagas wait. One `keel worker`
// process runs DemoSagas whose steps take a while; once every saga has a step leased
// by it, it is SIGKILLed and a new worker started at once. A saga has moved again
// when its run has a new event or its leased task was taken over (done, or leased by
// someone else). Prints the time from the kill until each saga moved.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "cli/bench_util.h"
#include "cli/commands.h"
#include "common/temp_dir.h"
#include "engine/engine.h"
#include "examples/demo_saga.h"

namespace keel::cli {
namespace {

struct RecoveryFlags {
  std::string db;
  int sagas = 50;
  int activity_ms = 4'000;
};

RecoveryFlags& F() {
  static RecoveryFlags f;
  return f;
}

pid_t SpawnWorker(const std::string& url, const std::string& log, int concurrency) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    const std::string c = std::to_string(concurrency);
    execl("/proc/self/exe", "keel", "worker", "--db", url.c_str(), "--concurrency", c.c_str(),
          "--no-demo-effects", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

using Clock = std::chrono::steady_clock;

// What a saga's run looked like when its worker died: its next event id, and the task
// that worker held.
struct Held {
  std::string run_id;
  int64_t next_event_id = 0;
  int64_t task_id = 0;
  std::string owner;
};

int RunBenchRecovery() {
  const RecoveryFlags& f = F();
  std::optional<TempDir> temp;
  auto made = BenchStoreUrl(f.db, "keel-bench-recovery", &temp);
  if (!made.ok()) return ReportError(made.status());
  const std::string url = *made;
  auto store = OpenDb(url);
  if (!store.ok()) return ReportError(store.status());
  auto logs = TempDir::Create("keel-bench-recovery-logs");
  if (!logs.ok()) return ReportError(logs.status());
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto client = MakeClientEngine(store->get(), &registry);

  pid_t worker = SpawnWorker(url, logs->path() + "/worker-1.log", f.sagas + 4);
  const std::string prefix = "recovery-" + std::to_string(getpid());
  json::value input = json::object{{"steps", 3}, {"fail_at", 0}, {"activity_ms", f.activity_ms}};
  for (int i = 0; i < f.sagas; ++i) {
    StartWorkflowRequest req{prefix + "-" + std::to_string(i), "DemoSaga", "", input};
    req.task_queue = kDefaultWorkflowQueue;
    auto r = client->history().StartWorkflow(req);
    if (!r.ok()) return ReportError(r.status());
  }
  // Every saga's step leased by the first worker.
  std::map<std::string, Held> held;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (static_cast<int>(held.size()) < f.sagas && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto leased = (*store)->ListLeasedTasks(100'000);
    if (!leased.ok()) continue;
    held.clear();
    for (const auto& t : *leased) {
      if (t.workflow_id.rfind(prefix, 0) != 0 || t.activity_id.empty()) continue;
      held[t.workflow_id] = {t.run_id, 0, t.id, t.lease_owner};
    }
  }
  if (static_cast<int>(held.size()) < f.sagas) {
    kill(worker, SIGKILL);
    waitpid(worker, nullptr, 0);
    return ReportError(Status::Unavailable("the worker never held every saga's step"));
  }
  for (auto& [id, h] : held) {
    auto row = (*store)->ReadExecution(h.run_id);
    if (row.ok() && *row) h.next_event_id = (*row)->next_event_id;
  }
  kill(worker, SIGKILL);
  waitpid(worker, nullptr, 0);
  const auto killed = Clock::now();
  worker = SpawnWorker(url, logs->path() + "/worker-2.log", f.sagas + 4);

  std::vector<double> moved;
  std::map<std::string, Held> waiting = held;
  while (!waiting.empty() && Clock::now() - killed < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (auto it = waiting.begin(); it != waiting.end();) {
      const Held& h = it->second;
      auto row = (*store)->ReadExecution(h.run_id);
      auto tasks = (*store)->ListTasksOfRun(h.run_id);
      bool taken = row.ok() && *row && (*row)->next_event_id > h.next_event_id;
      if (!taken && tasks.ok()) {
        taken = true;  // unless the dead worker's task is still there, still its
        for (const auto& t : *tasks) {
          if (t.id == h.task_id && (t.lease_owner == h.owner || t.lease_owner.empty())) {
            taken = false;
          }
        }
      }
      if (taken) {
        moved.push_back(std::chrono::duration<double>(Clock::now() - killed).count());
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
  }
  kill(worker, SIGTERM);
  waitpid(worker, nullptr, 0);
  client.reset();
  store->reset();
  std::sort(moved.begin(), moved.end());
  auto pct = [&](double p) { return Percentile(moved, p); };
  std::printf("in_flight=%d moved=%zu p50_s=%.2f max_s=%.2f (from the SIGKILL; lease %d s)\n",
              f.sagas, moved.size(), pct(0.5), moved.empty() ? 0.0 : moved.back(),
              std::max(10, 10 * f.activity_ms / 1000));
  if (!waiting.empty()) {
    std::cerr << "error: " << waiting.size() << " sagas did not move within 120 s\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void AddRecoveryBench(CLI::App* bench, CliState& state) {
  auto* cmd = bench->add_subcommand(
      "recovery", "SIGKILL a worker mid-saga, start another, time until every saga moves");
  cmd->add_option("--db", F().db, "store URL (default: a fresh temporary SQLite dir)")
      ->envname("KEEL_DB");
  cmd->add_option("--sagas", F().sagas, "sagas in flight when the worker dies")
      ->check(CLI::Range(1, 10'000));
  cmd->add_option("--activity-ms", F().activity_ms, "how long each step takes")
      ->check(CLI::Range(100, 60'000));
  cmd->callback([&state] { state.action = RunBenchRecovery; });
}

}  // namespace keel::cli
