// Reset: a new run replays the old one up to a workflow task and decides again from
// there, on a real SQLite store.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/errors.h"
#include "engine/payload.h"
#include "engine/replayer.h"
#include "engine/testing/test_environment.h"

namespace keel {
namespace {

using persistence::ExecutionRow;
using persistence::ExecutionStatus;

std::atomic<bool> g_broken{true};
std::atomic<int> g_echoes{0};

ActivityOptions Quick() {
  ActivityOptions o;
  o.task_queue = "test";
  o.start_to_close_timeout = 5'000;
  o.retry.initial_interval = 10;
  return o;
}

json::value ResultOf(const ExecutionRow& row) {
  proto::Payload p;
  p.ParseFromString(row.result);
  return FromPayload(p).value();
}

Workflow<json::value> TwoSteps(WorkflowContext& ctx, json::value) {
  json::value a = co_await ctx.ExecuteActivity("Echo", "a", Quick());
  json::value b = co_await ctx.ExecuteActivity("Brittle", "b", Quick());
  co_return json::array{a, b};
}

// Echoes once, starts an hour's timer, then collects three "s" signals.
Workflow<json::value> CollectAfterEcho(WorkflowContext& ctx, json::value) {
  co_await ctx.ExecuteActivity("Echo", "start", Quick());
  Timer later = ctx.NewTimer(3'600'000);
  auto& ch = ctx.GetSignalChannel("s");
  json::value one = co_await ch.Receive();
  json::value two = co_await ch.Receive();
  json::value three = co_await ch.Receive();
  later.Cancel();
  co_return json::array{one, two, three};
}

Workflow<json::value> WaitForGo(WorkflowContext& ctx, json::value) {
  co_return co_await ctx.GetSignalChannel("go").Receive();
}

Workflow<json::value> ParentOfWaiter(WorkflowContext& ctx, json::value) {
  ChildWorkflowOptions o;
  o.workflow_id = "waiter";
  co_return co_await ctx.ExecuteChildWorkflow("WaitForGo", nullptr, o);
}

class ResetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_broken = true;
    g_echoes = 0;
    registry_.RegisterActivity(
        "Echo",
        [](ActivityContext&, const json::value& in) {
          ++g_echoes;
          return in;
        },
        "test");
    registry_.RegisterActivity(
        "Brittle",
        [](ActivityContext&, const json::value& in) -> json::value {
          if (g_broken) throw ApplicationError("Bug", "a bug in Brittle", true);
          return in;
        },
        "test");
    registry_.RegisterWorkflow("TwoSteps", TwoSteps);
    registry_.RegisterWorkflow("CollectAfterEcho", CollectAfterEcho);
    registry_.RegisterWorkflow("WaitForGo", WaitForGo);
    registry_.RegisterWorkflow("ParentOfWaiter", ParentOfWaiter);
    env_ = TestEnvironment::Create(&registry_).value();
  }
  HistoryService& history() { return env_->engine().history(); }
  // The id of the n-th (1-based) workflow_task_completed event of the current run.
  int64_t NthTaskCompleted(const std::string& id, int n) {
    proto::History h = env_->GetHistory(id).value();
    for (const auto& e : h.events()) {
      if (e.has_workflow_task_completed() && --n == 0) return e.event_id();
    }
    return -1;
  }
  // Waits (real time) until the current run has `n` completed workflow tasks.
  bool WaitForTasks(const std::string& id, int n) {
    for (int i = 0; i < 5000; ++i) {
      auto h = env_->GetHistory(id);
      if (h.ok()) {
        int done = 0;
        for (const auto& e : h->events()) done += e.has_workflow_task_completed();
        if (done >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  Registry registry_;
  std::unique_ptr<TestEnvironment> env_;
};

TEST_F(ResetTest, AFailedRunIsResetBeforeTheBugAndCompletes) {
  ASSERT_TRUE(env_->Start("TwoSteps", "two", nullptr).ok());
  ExecutionRow failed = env_->RunUntilClosed("two").value();
  ASSERT_EQ(failed.status, ExecutionStatus::kFailed);
  ASSERT_EQ(g_echoes, 1);
  g_broken = false;  // the fix is deployed
  // The second workflow task is the one that scheduled Brittle.
  int64_t point = NthTaskCompleted("two", 2);
  ResetRequest req{"two", "", point, "Brittle fixed", "test"};
  auto run = history().ResetWorkflow(req);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ExecutionRow done = env_->RunUntilClosed("two").value();
  EXPECT_EQ(done.run_id, *run);
  ASSERT_EQ(done.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(done), json::parse(R"(["a","b"])"));
  EXPECT_EQ(g_echoes, 1) << "Echo completed before the reset point and is not run again";
  // The old run is left as it was; the new one says where it came from, and replays.
  EXPECT_EQ(env_->store().ReadExecution(failed.run_id).value()->status, ExecutionStatus::kFailed);
  proto::History h = env_->GetHistory("two").value();
  EXPECT_EQ(h.events(0).workflow_execution_started().reset_from_run_id(), failed.run_id);
  EXPECT_EQ(h.events(0).workflow_execution_started().reset_event_id(), point);
  auto replay = ReplayHistory(registry_, h);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_TRUE(replay->closed);
}

TEST_F(ResetTest, ARunningRunIsTerminatedAndLaterSignalsAreReapplied) {
  ASSERT_TRUE(env_->Start("CollectAfterEcho", "collect", nullptr).ok());
  ASSERT_TRUE(WaitForTasks("collect", 2));  // echoed, timer started, waiting for signals
  std::string old_run = env_->store().ReadCurrentExecution("collect").value()->run_id;
  ASSERT_TRUE(history().SignalWorkflow("collect", "s", 1, "test").ok());
  ASSERT_TRUE(WaitForTasks("collect", 3));
  int64_t point = NthTaskCompleted("collect", 3);  // the task that took signal 1
  ASSERT_TRUE(history().SignalWorkflow("collect", "s", 2, "test").ok());
  ASSERT_TRUE(WaitForTasks("collect", 4));
  auto run = history().ResetWorkflow(ResetRequest{"collect", "", point, "", "test"});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(env_->store().ReadExecution(old_run).value()->status, ExecutionStatus::kTerminated);
  // The hour's timer, started before the reset point, is pending in the new run.
  bool timer = false;
  for (const auto& t : env_->store().DueTimers(INT64_MAX, 100).value()) {
    timer = timer || t.run_id == *run;
  }
  EXPECT_TRUE(timer);
  ASSERT_TRUE(history().SignalWorkflow("collect", "s", 3, "test").ok());
  ExecutionRow done = env_->RunUntilClosed("collect").value();
  EXPECT_EQ(done.run_id, *run);
  ASSERT_EQ(done.status, ExecutionStatus::kCompleted);
  // Signal 1 is in the kept history; signal 2 came after the point and was re-applied.
  EXPECT_EQ(ResultOf(done), json::parse("[1,2,3]"));
  EXPECT_EQ(g_echoes, 1);
}

TEST_F(ResetTest, BadResetPointsAreClearErrors) {
  ASSERT_TRUE(env_->Start("TwoSteps", "two", nullptr).ok());
  env_->RunUntilClosed("two").value();
  auto not_wt = history().ResetWorkflow(ResetRequest{"two", "", 1, "", "test"});
  EXPECT_EQ(not_wt.status().reason(), "reset_point_invalid");
  EXPECT_NE(not_wt.status().message().find("workflow_execution_started"), std::string::npos)
      << not_wt.status().message();
  auto beyond = history().ResetWorkflow(ResetRequest{"two", "", 9999, "", "test"});
  EXPECT_EQ(beyond.status().reason(), "reset_point_invalid");
  auto missing = history().ResetWorkflow(ResetRequest{"nope", "", 0, "", "test"});
  EXPECT_EQ(missing.status().reason(), "workflow_not_found");

  ASSERT_TRUE(env_->Start("ParentOfWaiter", "parent", nullptr).ok());
  ASSERT_TRUE(WaitForTasks("parent", 2));  // the child started and was seen
  auto open_child = history().ResetWorkflow(ResetRequest{"parent", "", 0, "", "test"});
  EXPECT_EQ(open_child.status().reason(), "reset_point_invalid");
  EXPECT_NE(open_child.status().message().find("child workflow"), std::string::npos);
}

}  // namespace
}  // namespace keel
