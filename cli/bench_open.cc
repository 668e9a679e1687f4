// keel bench open: the memory of a worker with many open workflows. N DemoSagas each
// wait on a durable timer (wait_ms) before their first step; one engine in this
// process runs them until every one has taken its first workflow task, then reports
// the process's resident memory. Open runs past the worker's cache (cache_size) are
// evicted and replayed from their histories when they next have work.

#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/bench_util.h"
#include "cli/commands.h"
#include "common/temp_dir.h"
#include "engine/engine.h"
#include "examples/demo_saga.h"

namespace keel::cli {
namespace {

struct OpenBenchFlags {
  std::string db;
  int workflows = 100'000;
  int64_t wait_ms = 3'600'000;
};

OpenBenchFlags& F() {
  static OpenBenchFlags f;
  return f;
}

// VmRSS and VmHWM of this process, in MiB.
std::pair<double, double> Rss() {
  std::ifstream in("/proc/self/status");
  std::string key;
  double rss = 0, hwm = 0, kb = 0;
  std::string unit;
  while (in >> key) {
    if (key == "VmRSS:" && in >> kb >> unit) rss = kb / 1024;
    if (key == "VmHWM:" && in >> kb >> unit) hwm = kb / 1024;
  }
  return {rss, hwm};
}

int RunBenchOpen() {
  const OpenBenchFlags& f = F();
  std::optional<TempDir> temp;
  auto url = BenchStoreUrl(f.db, "keel-bench-open", &temp);
  if (!url.ok()) return ReportError(url.status());
  auto store = OpenDb(*url);
  if (!store.ok()) return ReportError(store.status());
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  auto engine = std::make_unique<Engine>(store->get(), &registry, EngineOptions{});
  engine->Start();
  const auto t0 = std::chrono::steady_clock::now();
  json::value input = json::object{{"steps", 1}, {"wait_ms", f.wait_ms}};
  const std::string prefix = "open-" + std::to_string(getpid());
  for (int i = 0; i < f.workflows; ++i) {
    StartWorkflowRequest req{prefix + "-" + std::to_string(i), "DemoSaga", kDefaultWorkflowQueue,
                             input};
    auto r = engine->history().StartWorkflow(req);
    if (!r.ok()) return ReportError(r.status());
  }
  // Every run has taken its first workflow task (its timer is set) once no workflow
  // task is left in the store.
  for (;;) {
    auto stats = (*store)->QueueStatistics();
    int64_t left = 0;
    if (stats.ok()) {
      for (const auto& q : *stats) left += q.ready + q.leased + q.delayed;
    }
    if (stats.ok() && left == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto timers = (*store)->CountTimers();
  const auto [rss, hwm] = Rss();
  std::printf("open_workflows=%d timers=%lld seconds=%.1f rss_mib=%.0f peak_rss_mib=%.0f\n",
              f.workflows, timers.ok() ? static_cast<long long>(*timers) : -1LL, seconds, rss, hwm);
  engine->Stop();
  engine.reset();
  return kExitOk;
}

}  // namespace

void AddOpenBench(CLI::App* bench, CliState& state) {
  auto* cmd = bench->add_subcommand(
      "open", "start N DemoSagas that wait on a timer; report this worker's memory");
  cmd->add_option("--db", F().db, "store URL (default: a fresh temporary SQLite dir)")
      ->envname("KEEL_DB");
  cmd->add_option("--workflows", F().workflows, "open workflows")->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--wait-ms", F().wait_ms, "each one's timer")
      ->check(CLI::Range(1'000, 86'400'000));
  cmd->callback([&state] { state.action = RunBenchOpen; });
}

}  // namespace keel::cli
