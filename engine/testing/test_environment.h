#pragma once
// Runs workflows against a real SQLite store in a temporary dir, with in-process
// workers and a FakeClock that skips ahead whenever nothing can happen before the
// next timer or deadline; a 30-minute timer fires in milliseconds of wall time.

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/temp_dir.h"
#include "engine/engine.h"
#include "engine/registry.h"
#include "persistence/store.h"
#include "proto/history.pb.h"

namespace keel {

class TestEnvironment {
 public:
  struct Options {
    std::string dir;                        // empty: a fresh temp dir, removed at the end
    Millis start_time = 1'700'000'000'000;  // the fake clock's start
    EngineOptions engine;
  };
  static Result<std::unique_ptr<TestEnvironment>> Create(const Registry* registry, Options options);
  static Result<std::unique_ptr<TestEnvironment>> Create(const Registry* registry) {
    return Create(registry, Options());
  }
  ~TestEnvironment();

  FakeClock& clock() { return *clock_; }
  Engine& engine() { return *engine_; }
  persistence::Store& store() { return *store_; }
  const std::string& dir() const { return dir_; }

  Result<StartWorkflowResult> Start(const std::string& workflow_type,
                                    const std::string& workflow_id, json::value input,
                                    const std::string& task_queue = "");
  // Runs until the workflow's current run closes (following continue-as-new), skipping fake time
  // whenever the system is idle. Fails with reason "timeout" after `wall_timeout_ms` of real time.
  Result<persistence::ExecutionRow> RunUntilClosed(const std::string& workflow_id,
                                                   Millis wall_timeout_ms = 30'000);
  Result<proto::History> GetHistory(const std::string& workflow_id);
  // Lets what is due now happen, moves the fake clock `by` ahead at once (whatever
  // falls due in between fires late, at the new time), and waits until the system is
  // idle with nothing due: the step a test takes to see, say, a day pass. Fails with
  // reason "timeout" after `wall_timeout_ms` of real time (per wait).
  Status AdvanceAndSettle(Millis by, Millis wall_timeout_ms = 30'000);

 private:
  TestEnvironment() = default;
  bool SkipTimeIfIdle();
  // Waits until the engine is idle, no task waits and nothing is due now.
  Status Settle(Millis wall_timeout_ms);
  std::string dir_;
  std::optional<TempDir> temp_;  // set when the environment made the dir
  std::unique_ptr<FakeClock> clock_;
  std::unique_ptr<persistence::Store> store_;
  std::unique_ptr<Engine> engine_;
  const Registry* registry_ = nullptr;
};

}  // namespace keel
