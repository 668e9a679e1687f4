#include "engine/testing/test_environment.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "persistence/sqlite/sqlite_store.h"

namespace keel {

Result<std::unique_ptr<TestEnvironment>> TestEnvironment::Create(const Registry* registry,
                                                                 Options options) {
  std::unique_ptr<TestEnvironment> env(new TestEnvironment());
  env->registry_ = registry;
  env->dir_ = options.dir;
  if (env->dir_.empty()) {
    KEEL_ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create("keel-test"));
    env->temp_.emplace(std::move(tmp));
    env->dir_ = env->temp_->path();
  }
  env->clock_ = std::make_unique<FakeClock>(options.start_time);
  persistence::SqliteOptions so;
  so.dir = env->dir_;
  so.clock = env->clock_.get();
  KEEL_ASSIGN_OR_RETURN(env->store_, persistence::OpenSqliteStore(so));
  env->engine_ = std::make_unique<Engine>(env->store_.get(), registry, options.engine);
  env->engine_->Start();
  return env;
}

TestEnvironment::~TestEnvironment() {
  if (engine_) engine_->Stop();
  engine_.reset();
  store_.reset();
  temp_.reset();
}

Result<StartWorkflowResult> TestEnvironment::Start(const std::string& workflow_type,
                                                   const std::string& workflow_id,
                                                   json::value input,
                                                   const std::string& task_queue) {
  StartWorkflowRequest req;
  req.workflow_type = workflow_type;
  req.workflow_id = workflow_id;
  req.input = std::move(input);
  req.task_queue = task_queue;
  if (req.task_queue.empty()) {
    if (const WorkflowDef* d = registry_->FindWorkflow(workflow_type))
      req.task_queue = d->task_queue;
  }
  return engine_->history().StartWorkflow(req);
}

bool TestEnvironment::SkipTimeIfIdle() {
  if (!engine_->Idle()) return false;
  auto stats = store_->QueueStatistics();
  if (!stats.ok()) return false;
  for (const auto& q : *stats) {
    // Tasks on queues nobody here serves cannot move; only their timeouts can.
    if (q.leased > 0 || (q.ready > 0 && engine_->Serves(q.queue))) return false;
  }
  auto next = store_->NextWakeTime();
  if (!next.ok() || !next->has_value()) return false;
  if (**next <= clock_->Now()) return false;
  if (!engine_->Idle()) return false;
  clock_->AdvanceTo(**next);
  return true;
}

Result<persistence::ExecutionRow> TestEnvironment::RunUntilClosed(const std::string& workflow_id,
                                                                  Millis wall_timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wall_timeout_ms);
  int idle_rounds = 0;
  while (std::chrono::steady_clock::now() < until) {
    KEEL_ASSIGN_OR_RETURN(auto row, store_->ReadCurrentExecution(workflow_id));
    if (!row) return Status::NotFound("workflow '" + workflow_id + "' not found");
    // (A run that continued as new is followed to the next one.)
    if (row->status != persistence::ExecutionStatus::kRunning &&
        row->status != persistence::ExecutionStatus::kContinuedAsNew) {
      return *row;
    }
    // Require idleness twice in a row so a hand-over between threads is not mistaken for it.
    if (engine_->Idle()) {
      if (++idle_rounds >= 2) {
        SkipTimeIfIdle();
        idle_rounds = 0;
      }
    } else {
      idle_rounds = 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::Unavailable("workflow '" + workflow_id + "' did not close in time", "timeout");
}

Status TestEnvironment::AdvanceAndSettle(Millis by, Millis wall_timeout_ms) {
  // What is due now happens now (a task a test's request just made), then time passes.
  KEEL_RETURN_IF_ERROR(Settle(wall_timeout_ms));
  clock_->Advance(by);
  return Settle(wall_timeout_ms);
}

Status TestEnvironment::Settle(Millis wall_timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(wall_timeout_ms);
  int quiet_rounds = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto next = store_->NextWakeTime();
    const bool due = !next.ok() || (next->has_value() && **next <= clock_->Now());
    auto stats = store_->QueueStatistics();
    bool queued = !stats.ok();
    for (const auto& q : stats.ok() ? *stats : std::vector<persistence::QueueStats>{}) {
      queued = queued || q.leased > 0 || (q.ready > 0 && engine_->Serves(q.queue));
    }
    // Quiet several times in a row, so a hand-over between threads is not mistaken for it.
    quiet_rounds = engine_->Idle() && !due && !queued ? quiet_rounds + 1 : 0;
    if (quiet_rounds >= 5) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return Status::Unavailable("the system did not settle in time", "timeout");
}

Result<proto::History> TestEnvironment::GetHistory(const std::string& workflow_id) {
  KEEL_ASSIGN_OR_RETURN(auto row, store_->ReadCurrentExecution(workflow_id));
  if (!row) return Status::NotFound("workflow '" + workflow_id + "' not found");
  KEEL_ASSIGN_OR_RETURN(auto events, store_->ReadHistory(row->run_id, 1));
  proto::History h;
  h.set_workflow_id(row->workflow_id);
  h.set_run_id(row->run_id);
  for (auto& e : events) *h.add_events() = std::move(e);
  return h;
}

}  // namespace keel
