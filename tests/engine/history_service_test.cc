// Transitions driven by hand: inputs that arrive while a workflow task is running,
// and the fencing of stale completions.

#include "engine/history_service.h"

#include <gtest/gtest.h>

#include <future>

#include "common/temp_dir.h"
#include "engine/engine.h"
#include "engine/replayer.h"
#include "engine/workflow_instance.h"
#include "persistence/sqlite/sqlite_store.h"

namespace keel {
namespace {

using persistence::TaskKind;
using persistence::TaskRow;

Workflow<json::value> CollectTwo(WorkflowContext& ctx, json::value) {
  auto& ch = ctx.GetSignalChannel("go");
  json::value a = co_await ch.Receive();
  json::value b = co_await ch.Receive();
  co_return json::array{a, b};
}

class HistoryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.emplace(TempDir::Create("keel-hs").value());
    persistence::SqliteOptions so;
    so.dir = dir_->path();
    so.clock = &clock_;
    store_ = persistence::OpenSqliteStore(so).value();
    registry_.RegisterWorkflow("CollectTwo", CollectTwo);
    HistoryServiceOptions ho;
    ho.identity = "hand";
    history_ = std::make_unique<HistoryService>(store_.get(), nullptr, ho);
    StartWorkflowRequest req{"w", "CollectTwo", kDefaultWorkflowQueue, nullptr};
    run_id_ = history_->StartWorkflow(req).value().run_id;
    instance_ = std::make_unique<internal::WorkflowInstance>(
        registry_.FindWorkflow("CollectTwo"),
        WorkflowInfo{"w", run_id_, "CollectTwo", kDefaultWorkflowQueue});
  }
  void TearDown() override {
    instance_.reset();
    history_.reset();
    store_.reset();
    dir_.reset();
  }
  TaskRow Lease() {
    std::promise<Result<std::vector<TaskRow>>> p;
    history_->LeaseTasks(kDefaultWorkflowQueue, TaskKind::kWorkflow, 1,
                         [&](Result<std::vector<TaskRow>> r) { p.set_value(std::move(r)); });
    auto rows = p.get_future().get().value();
    EXPECT_EQ(rows.size(), 1u);
    return rows.empty() ? TaskRow() : rows[0];
  }
  // Runs the instance on the events it has not seen; returns commands and seen_through.
  std::vector<proto::Command> Decide(int64_t* seen) {
    auto events = store_->ReadHistory(run_id_, instance_->last_event_id() + 1).value();
    auto cmds = instance_->Apply(events);
    EXPECT_TRUE(cmds.ok()) << cmds.status().ToString();
    *seen = instance_->last_event_id();
    return cmds.ok() ? *cmds : std::vector<proto::Command>();
  }
  Status Complete(const TaskRow& t, int64_t seen, std::vector<proto::Command> cmds) {
    std::promise<Status> p;
    history_->CompleteWorkflowTask(t, seen, std::move(cmds),
                                   [&](const Status& s) { p.set_value(s); });
    return p.get_future().get();
  }
  std::vector<std::string> Kinds() {
    std::vector<std::string> out;
    for (const auto& e : store_->ReadHistory(run_id_, 1).value()) {
      out.push_back(
          e.attributes_case() == proto::HistoryEvent::kWorkflowExecutionSignaled ? "signal"
          : e.has_workflow_task_completed()
              ? "wt_completed(" +
                    std::to_string(e.workflow_task_completed().seen_through_event_id()) + ")"
          : e.has_workflow_task_scheduled()      ? "wt_scheduled"
          : e.has_workflow_task_started()        ? "wt_started"
          : e.has_workflow_execution_started()   ? "started"
          : e.has_workflow_execution_completed() ? "completed"
                                                 : "other");
    }
    return out;
  }

  FakeClock clock_{1'000'000};
  std::optional<TempDir> dir_;
  std::unique_ptr<persistence::Store> store_;
  Registry registry_;
  std::unique_ptr<HistoryService> history_;
  std::unique_ptr<internal::WorkflowInstance> instance_;
  std::string run_id_;
};

TEST_F(HistoryServiceTest, SignalDuringAWorkflowTaskIsSeenByTheNextOne) {
  TaskRow t1 = Lease();
  int64_t seen = 0;
  auto cmds = Decide(&seen);  // blocked on the first signal: no commands
  EXPECT_TRUE(cmds.empty());
  EXPECT_EQ(seen, 2);
  // A signal lands while the task is being decided.
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "a", "test").ok());
  ASSERT_TRUE(Complete(t1, seen, cmds).ok());
  // The signal was after what the worker saw, so another task is scheduled at once.
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"started", "wt_scheduled", "signal", "wt_started",
                                               "wt_completed(2)", "wt_scheduled"}));
  TaskRow t2 = Lease();
  cmds = Decide(&seen);  // receives "a", blocks on the second signal
  EXPECT_TRUE(cmds.empty());
  ASSERT_TRUE(Complete(t2, seen, cmds).ok());
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "b", "test").ok());
  TaskRow t3 = Lease();
  cmds = Decide(&seen);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_TRUE(cmds[0].has_complete_workflow());
  ASSERT_TRUE(Complete(t3, seen, cmds).ok());
  auto row = store_->ReadExecution(run_id_).value();
  EXPECT_EQ(row->status, persistence::ExecutionStatus::kCompleted);
  // The whole history replays from scratch to the same decisions.
  proto::History h;
  for (auto& e : store_->ReadHistory(run_id_, 1).value()) *h.add_events() = e;
  auto report = ReplayHistory(registry_, h);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->closed);
}

TEST_F(HistoryServiceTest, ClosingWithUnseenInputsIsRejectedAndTheTaskRunsAgain) {
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "a", "test").ok());
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "b", "test").ok());
  TaskRow t1 = Lease();
  int64_t seen = 0;
  auto cmds = Decide(&seen);
  ASSERT_EQ(cmds.size(), 1u);
  ASSERT_TRUE(cmds[0].has_complete_workflow());
  // A third signal arrives before the completion: closing now would lose it.
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "c", "test").ok());
  Status s = Complete(t1, seen, cmds);
  EXPECT_EQ(s.reason(), "unhandled_events");
  EXPECT_EQ(store_->ReadExecution(run_id_).value()->status, persistence::ExecutionStatus::kRunning);
  // The task is offered again at once; a fresh instance sees all three signals.
  instance_ = std::make_unique<internal::WorkflowInstance>(
      registry_.FindWorkflow("CollectTwo"),
      WorkflowInfo{"w", run_id_, "CollectTwo", kDefaultWorkflowQueue});
  TaskRow t2 = Lease();
  EXPECT_GT(t2.lease_token, t1.lease_token);
  cmds = Decide(&seen);
  ASSERT_TRUE(Complete(t2, seen, cmds).ok());
  EXPECT_EQ(store_->ReadExecution(run_id_).value()->status,
            persistence::ExecutionStatus::kCompleted);
}

TEST_F(HistoryServiceTest, AStaleCompletionIsFencedOff) {
  TaskRow t1 = Lease();
  int64_t seen = 0;
  auto cmds = Decide(&seen);
  // The lease ends (the worker stalled) and the timer service offers the task again.
  clock_.Advance(10'001);
  std::promise<Status> p;
  history_->HandleTaskDeadline(t1.id, [&](const Status& s) { p.set_value(s); });
  ASSERT_TRUE(p.get_future().get().ok());
  TaskRow t2 = Lease();
  EXPECT_EQ(t2.id, t1.id);
  EXPECT_EQ(t2.attempt, 2);
  // The stalled worker wakes up and tries to complete: refused, nothing written.
  int64_t before = store_->ReadExecution(run_id_).value()->next_event_id;
  EXPECT_EQ(Complete(t1, seen, cmds).reason(), "stale_task");
  EXPECT_EQ(store_->ReadExecution(run_id_).value()->next_event_id, before);
  EXPECT_TRUE(Complete(t2, seen, cmds).ok());
}

}  // namespace
}  // namespace keel
