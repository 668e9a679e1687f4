#pragma once
// One process's engine: the history service (transitions), in-process dispatch,
// the timer service and worker threads, over a Store chosen by main().
// A client-only engine (no workers, no timers) is what `keel workflow start` uses.

#include <memory>
#include <set>
#include <string>

#include "engine/history_service.h"
#include "engine/matcher.h"
#include "engine/registry.h"
#include "engine/timer_service.h"
#include "engine/worker.h"

namespace keel {

struct EngineOptions {
  std::string identity;                   // default: host-pid-random
  bool run_workflows = true;              // workflow task threads
  bool run_activities = true;             // activity threads
  bool run_timers = true;                 // timer service
  std::set<std::string> workflow_queues;  // empty: every queue the registry names
  std::set<std::string> activity_queues;  // empty: every queue the registry names
  int workflow_threads = 2;
  int activity_threads = 16;
  size_t cache_size = 5000;
  int poll_interval_ms = 200;
  Millis workflow_task_timeout = 10'000;
  // Closed runs older than this are deleted (with their histories); 0 keeps them.
  Millis retention_ms = 30LL * 24 * 3600 * 1000;
};

class Engine {
 public:
  Engine(persistence::Store* store, const Registry* registry, EngineOptions options);
  ~Engine();
  void Start();
  void Stop();
  HistoryService& history() { return *history_; }
  persistence::Store* store() const { return store_; }
  const Registry* registry() const { return registry_; }
  // No task in hand, none waiting in memory, no transition in flight.
  bool Idle() const;
  const std::string& identity() const { return options_.identity; }
  // Whether this engine's workers poll `queue` (for workflow or activity tasks).
  bool Serves(const std::string& queue) const;

 private:
  persistence::Store* store_;
  const Registry* registry_;
  EngineOptions options_;
  std::unique_ptr<Matcher> matcher_;
  std::unique_ptr<HistoryService> history_;
  std::unique_ptr<TimerService> timers_;
  std::unique_ptr<Workers> workers_;
  bool started_ = false;
  std::set<std::string> served_;
};

// A client-only engine over `store`: start, signal, describe; no workers.
std::unique_ptr<Engine> MakeClientEngine(persistence::Store* store, const Registry* registry);

}  // namespace keel
