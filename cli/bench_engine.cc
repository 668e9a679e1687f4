// keel bench engine: N DemoSagas of K no-op activities, C in flight, workers in process.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <thread>
#include <unordered_map>

#include "cli/bench_util.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "common/temp_dir.h"
#include "engine/engine.h"
#include "examples/demo_saga.h"
#include "persistence/open_store.h"
#include "persistence/postgres/postgres_store.h"

namespace keel::cli {
namespace {

struct BenchFlags {
  std::string db;
  int sagas = 1000;
  int concurrency = 100;
  int activities = 4;
  int workflow_threads = 2;
  int activity_threads = 8;
  int worker_processes = 0;  // 0: workers in this process
  std::string synchronous = "FULL";
  std::string latencies;  // file for each saga's latency
};

BenchFlags& B() {
  static BenchFlags b;
  return b;
}

using Clock = std::chrono::steady_clock;

// Committed transactions of the database so far (pg_stat_database), for PostgreSQL URLs.
std::optional<int64_t> PgCommits(const std::string& url) {
  if (url.rfind("postgres", 0) != 0) return std::nullopt;
  auto o = persistence::ParsePostgresUrl(url);
  if (!o.ok()) return std::nullopt;
  try {
    pqxx::connection c(o->url);
    pqxx::nontransaction t(c);
    return t
        .exec("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")[0][0]
        .as<int64_t>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int RunBenchEngine() {
  const BenchFlags& f = B();
  std::optional<TempDir> temp;  // removed at the end
  auto made = BenchStoreUrl(f.db, "keel-bench", &temp);
  if (!made.ok()) return ReportError(made.status());
  const std::string url = *made;
  persistence::OpenOptions oo;
  oo.synchronous = f.synchronous;
  auto store = persistence::OpenStore(url, oo);
  if (!store.ok()) return ReportError(store.status());
  Registry registry;
  examples::RegisterDemo(registry, nullptr);
  bool external = f.worker_processes > 0;
  if (external && url.rfind("postgres", 0) != 0) {
    return ReportError(Status::InvalidArgument(
        "--worker-processes needs --db postgresql://... (closes are seen through NOTIFY)"));
  }
  EngineOptions eo;
  eo.workflow_threads = f.workflow_threads;
  eo.activity_threads = f.activity_threads;
  if (external) {  // this process only starts sagas and watches them close
    eo.run_workflows = eo.run_activities = eo.run_timers = false;
  }
  auto engine_owner = std::make_unique<Engine>(store->get(), &registry, eo);
  Engine& engine = *engine_owner;
  auto commits = PgCommits(url);

  std::mutex mu;
  std::condition_variable cv;
  std::unordered_map<std::string, Clock::time_point> started_at;
  std::vector<double> latencies;
  latencies.reserve(f.sagas);
  int in_flight = 0, closed = 0, not_completed = 0;
  std::string prefix = "bench-" + std::to_string(getpid()) + "-" +
                       std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  auto on_close = [&](const std::string& workflow_id, bool completed) {
    if (workflow_id.rfind(prefix, 0) != 0) return;
    auto now = Clock::now();
    std::lock_guard<std::mutex> l(mu);
    auto it = started_at.find(workflow_id);
    if (it == started_at.end()) return;
    latencies.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    started_at.erase(it);
    if (!completed) ++not_completed;
    --in_flight;
    ++closed;
    cv.notify_all();
  };
  engine.history().AddCloseHook([&](const persistence::ExecutionRow& row) {
    on_close(row.workflow_id, row.status == persistence::ExecutionStatus::kCompleted);
  });
  WorkerProcesses workers;
  if (external) {
    persistence::StoreListeners l;
    l.run_closed = [&](const std::string& workflow_id, const std::string&) {
      on_close(workflow_id, true);  // checked against the store at the end
    };
    (*store)->SetListeners(std::move(l));
    for (int i = 0; i < f.worker_processes; ++i) {
      workers.Spawn({"--db", url, "--concurrency", std::to_string(f.activity_threads),
                     "--workflow-threads", std::to_string(f.workflow_threads),
                     "--no-demo-effects"});
    }
  }
  engine.Start();

  json::value input = json::object{{"steps", f.activities}, {"fail_at", 0}, {"activity_ms", 0}};
  std::atomic<int> next{0};
  std::atomic<int> start_errors{0};
  struct Writes {  // this process's store writes, from the counters in /metrics
    int64_t commits = 0, transactions = 0, rollbacks = 0;
    static Writes Now() {
      Writes w;
      for (const char* name : {"sqlite", "postgres"}) {
        auto& c = persistence::StoreCounters::For(name);
        w.commits += c.commits.value();
        w.transactions += c.transactions.value();
        w.rollbacks += c.rollbacks.value();
      }
      return w;
    }
  };
  const Writes writes0 = Writes::Now();
  auto t0 = Clock::now();
  int starters = std::max(1, std::min(f.concurrency, 16));
  std::vector<std::thread> threads;
  for (int s = 0; s < starters; ++s) {
    threads.emplace_back([&] {
      for (;;) {
        int i = next.fetch_add(1);
        if (i >= f.sagas) return;
        {
          std::unique_lock<std::mutex> l(mu);
          cv.wait(l, [&] { return in_flight < f.concurrency; });
          ++in_flight;
          started_at[prefix + "-" + std::to_string(i)] = Clock::now();
        }
        StartWorkflowRequest req;
        req.workflow_id = prefix + "-" + std::to_string(i);
        req.workflow_type = "DemoSaga";
        req.task_queue = kDefaultWorkflowQueue;
        req.input = input;
        auto r = engine.history().StartWorkflow(req);
        if (!r.ok()) {
          std::cerr << "start failed: " << r.status().ToString() << "\n";
          std::lock_guard<std::mutex> l(mu);
          started_at.erase(req.workflow_id);
          --in_flight;
          ++start_errors;
          cv.notify_all();
        }
      }
    });
  }
  // Runs closed by other processes serving the same store (a `keel worker`, another
  // bench) are not heard here: the store is asked about sagas in flight for a while.
  auto sweep = [&] {
    std::vector<std::string> stale;
    {
      std::lock_guard<std::mutex> l(mu);
      const auto before = Clock::now() - std::chrono::seconds(1);
      for (const auto& [id, at] : started_at) {
        if (at < before && stale.size() < 256) stale.push_back(id);
      }
    }
    for (const auto& id : stale) {
      auto row = (*store)->ReadCurrentExecution(id);
      if (row.ok() && *row && (*row)->status != persistence::ExecutionStatus::kRunning) {
        on_close(id, (*row)->status == persistence::ExecutionStatus::kCompleted);
      }
    }
  };
  bool tty = isatty(STDERR_FILENO);
  {
    auto swept = Clock::now();
    std::unique_lock<std::mutex> l(mu);
    while (closed + start_errors.load() < f.sagas) {
      cv.wait_for(l, std::chrono::seconds(1));
      if (closed + start_errors.load() < f.sagas &&
          Clock::now() - swept > std::chrono::seconds(1)) {
        l.unlock();
        sweep();
        l.lock();
        swept = Clock::now();
      }
      if (tty) {
        std::cerr << "\r" << closed << "/" << f.sagas << " sagas closed" << std::flush;
      }
      if (Clock::now() - t0 > std::chrono::minutes(30)) break;
    }
  }
  auto t1 = Clock::now();
  if (tty) std::cerr << "\n";
  for (auto& t : threads) t.join();
  workers.StopAll();
  if (external) {  // a NOTIFY says closed; the store says how
    persistence::ListFilter lf;
    lf.status = persistence::ExecutionStatus::kCompleted;
    lf.limit = 1;
    for (int i = 0; i < f.sagas && not_completed == 0; i += 997) {
      auto row = (*store)->ReadCurrentExecution(prefix + "-" + std::to_string(i));
      if (!row.ok() || !*row || (*row)->status != persistence::ExecutionStatus::kCompleted) {
        ++not_completed;
      }
    }
  }
  engine.Stop();
  const Writes writes1 = Writes::Now();
  const int64_t commits_here = writes1.commits - writes0.commits;
  std::printf("store_commits=%lld transitions_per_commit=%.1f rollbacks=%lld (this process)\n",
              static_cast<long long>(commits_here),
              commits_here ? static_cast<double>(writes1.transactions - writes0.transactions) /
                                 static_cast<double>(commits_here)
                           : 0.0,
              static_cast<long long>(writes1.rollbacks - writes0.rollbacks));
  if (commits) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // stats are flushed lazily
    auto after = PgCommits(url);
    if (after && closed > 0) {
      std::printf("pg_xact_commit=%lld per_saga=%.1f worker_processes=%d\n",
                  static_cast<long long>(*after - *commits),
                  static_cast<double>(*after - *commits) / closed, f.worker_processes);
    }
  }
  engine_owner.reset();  // before the store it listens to
  store->reset();
  temp.reset();

  double seconds = std::chrono::duration<double>(t1 - t0).count();
  std::sort(latencies.begin(), latencies.end());
  if (Status w = WriteLatencies(f.latencies, latencies); !w.ok()) return ReportError(w);
  auto pct = [&](double p) { return Percentile(latencies, p); };
  std::printf("sagas=%d seconds=%.3f sagas_per_s=%.1f p50_ms=%.2f p99_ms=%.2f\n", closed, seconds,
              closed / seconds, pct(0.50), pct(0.99));
  if (not_completed > 0 || start_errors > 0 || closed < f.sagas) {
    std::cerr << "error: " << not_completed << " sagas did not complete, " << start_errors
              << " failed to start\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void AddBenchCommands(CLI::App& app, CliState& state) {
  auto* bench = app.add_subcommand("bench", "load generators");
  bench->require_subcommand(1);
  auto* engine = bench->add_subcommand("engine", "run DemoSagas of no-op activities in process");
  engine->add_option("--db", B().db, "store URL (default: a fresh temporary SQLite dir)")
      ->envname("KEEL_DB");
  engine->add_option("--sagas", B().sagas, "how many sagas")->check(CLI::Range(1, 10'000'000));
  engine->add_option("--concurrency", B().concurrency, "sagas in flight at once")
      ->check(CLI::Range(1, 100'000));
  engine->add_option("--activities", B().activities, "activities per saga")
      ->check(CLI::Range(0, 1000));
  engine->add_option("--workflow-threads", B().workflow_threads)->check(CLI::Range(1, 64));
  engine->add_option("--activity-threads", B().activity_threads)->check(CLI::Range(1, 1024));
  engine
      ->add_option("--worker-processes", B().worker_processes,
                   "run workers as this many `keel worker` processes (PostgreSQL only)")
      ->check(CLI::Range(0, 64));
  engine->add_option("--synchronous", B().synchronous, "SQLite synchronous mode")
      ->check(CLI::IsMember({"FULL", "NORMAL", "OFF"}));
  engine->add_option("--latencies", B().latencies, "write each saga's latency (ms) to this file");
  engine->callback([&state] { state.action = RunBenchEngine; });
  AddCheckoutBench(bench, state);
  AddFlashSaleBench(bench, state);
  AddRecoveryBench(bench, state);
  AddHttpBench(bench, state);
  AddOpenBench(bench, state);
}

}  // namespace keel::cli
