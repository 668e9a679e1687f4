#pragma once
// For tests on a real clock: waits (polling the store) until a workflow's current run
// closes. Fails with reason "timeout" after `wall_timeout_ms`.

#include <chrono>
#include <string>
#include <thread>

#include "persistence/store.h"

namespace keel {

inline Result<persistence::ExecutionRow> WaitUntilClosed(persistence::Store& store,
                                                         const std::string& workflow_id,
                                                         Millis wall_timeout_ms = 10'000) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wall_timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    KEEL_ASSIGN_OR_RETURN(auto row, store.ReadCurrentExecution(workflow_id));
    if (row && row->status != persistence::ExecutionStatus::kRunning) return *row;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Status::Unavailable("workflow '" + workflow_id + "' did not close in time", "timeout");
}

}  // namespace keel
