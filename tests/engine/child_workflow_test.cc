// Child workflows, parent close policies, cancel requests and continue-as-new,
// through the public workflow API on a real SQLite store.

#include <gtest/gtest.h>

#include <thread>

#include "engine/combinators.h"
#include "engine/errors.h"
#include "engine/payload.h"
#include "engine/replayer.h"
#include "engine/testing/test_environment.h"

namespace keel {
namespace {

using persistence::ExecutionRow;
using persistence::ExecutionStatus;

json::value ResultOf(const ExecutionRow& row) {
  proto::Payload p;
  p.ParseFromString(row.result);
  return FromPayload(p).value();
}

ActivityOptions Quick() {
  ActivityOptions o;
  o.task_queue = "test";
  o.start_to_close_timeout = 5'000;
  o.retry.initial_interval = 10;
  return o;
}

// ---- Workflows (free functions: arguments by value) ----

Workflow<json::value> Double(WorkflowContext& ctx, json::value in) {
  auto v = co_await ctx.ExecuteActivity("Echo", in, Quick());
  co_return v.as_int64() * 2;
}

Workflow<json::value> SumOfDoubles(WorkflowContext& ctx, json::value in) {
  std::vector<Future<json::value>> fs;
  for (int i = 1; i <= in.as_int64(); ++i) fs.push_back(ctx.ExecuteChildWorkflow("Double", i));
  auto all = co_await WhenAll(fs);
  int64_t sum = 0;
  for (const auto& v : all) sum += v.as_int64();
  co_return sum;
}

Workflow<json::value> Refuses(WorkflowContext&, json::value) {
  throw ApplicationError("OutOfStock", "sku-1 is sold out", true);
  co_return nullptr;
}

json::value Caught(const ChildWorkflowError& e) {
  return json::object{{"type", e.type()}, {"message", e.what()}, {"child", e.workflow_id()}};
}

Workflow<json::value> CatchesChildFailure(WorkflowContext& ctx, json::value) {
  try {
    co_await ctx.ExecuteChildWorkflow("Refuses", nullptr);
  } catch (const ChildWorkflowError& e) {
    co_return Caught(e);
  }
  co_return "not reached";
}

// Waits for signal "go" (returns its payload) or a cancel request (ends cancelled).
Workflow<json::value> WaitForGo(WorkflowContext& ctx, json::value) {
  auto go = ctx.GetSignalChannel("go").Receive();
  auto cancelled = ctx.CancelRequested();
  size_t which = co_await WhenAny(go, cancelled);
  if (which == 1) throw CanceledError("asked to cancel while waiting for go");
  co_return go.Get();
}

ChildWorkflowOptions Named(const std::string& id, proto::ParentClosePolicy policy) {
  ChildWorkflowOptions o;
  o.workflow_id = id;
  o.parent_close_policy = policy;
  return o;
}

// Starts WaitForGo as in["child"] with policy in["policy"], and closes once it started.
Workflow<json::value> StartsAndLeaves(WorkflowContext& ctx, json::value in) {
  auto policy = static_cast<proto::ParentClosePolicy>(in.at("policy").as_int64());
  auto child = ctx.StartChildWorkflow("WaitForGo", nullptr,
                                      Named(std::string(in.at("child").as_string()), policy));
  std::string run = co_await child.started();
  co_return json::value(run);
}

// Waits for its child; reports how the child ended.
Workflow<json::value> AwaitsChild(WorkflowContext& ctx, json::value in) {
  auto child = ctx.StartChildWorkflow(
      "WaitForGo", nullptr,
      Named(std::string(in.at("child").as_string()), proto::PARENT_CLOSE_POLICY_TERMINATE));
  co_await child.started();
  if (in.at("cancel").as_bool()) child.RequestCancel();
  json::value out;
  try {
    json::value r = co_await child.result();
    json::object o;
    o["result"] = r;
    out = o;
  } catch (const ChildWorkflowError& e) {
    out = Caught(e);
  }
  co_return out;
}

Workflow<json::value> SameChildTwice(WorkflowContext& ctx, json::value) {
  auto opts = Named("twin", proto::PARENT_CLOSE_POLICY_TERMINATE);
  auto first = ctx.StartChildWorkflow("WaitForGo", nullptr, opts);
  auto second = ctx.StartChildWorkflow("WaitForGo", nullptr, opts);
  co_await first.started();
  try {
    co_await second.started();
  } catch (const ChildWorkflowError& e) {
    co_return Caught(e);
  }
  co_return "both started";
}

// Counts down through continue-as-new, sleeping between runs.
Workflow<json::value> Countdown(WorkflowContext& ctx, json::value in) {
  int64_t n = in.as_int64();
  if (n == 0) co_return "liftoff";
  co_await ctx.Sleep(10);
  ctx.ContinueAsNew(n - 1);
}

Workflow<json::value> AwaitsCountdown(WorkflowContext& ctx, json::value in) {
  co_return co_await ctx.ExecuteChildWorkflow("Countdown", in);
}

class ChildWorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.RegisterActivity(
        "Echo", [](ActivityContext&, const json::value& in) { return in; }, "test");
    registry_.RegisterWorkflow("Double", Double);
    registry_.RegisterWorkflow("SumOfDoubles", SumOfDoubles);
    registry_.RegisterWorkflow("Refuses", Refuses);
    registry_.RegisterWorkflow("CatchesChildFailure", CatchesChildFailure);
    registry_.RegisterWorkflow("WaitForGo", WaitForGo);
    registry_.RegisterWorkflow("StartsAndLeaves", StartsAndLeaves);
    registry_.RegisterWorkflow("AwaitsChild", AwaitsChild);
    registry_.RegisterWorkflow("SameChildTwice", SameChildTwice);
    registry_.RegisterWorkflow("Countdown", Countdown);
    registry_.RegisterWorkflow("AwaitsCountdown", AwaitsCountdown);
    auto env = TestEnvironment::Create(&registry_);
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    env_ = std::move(env).value();
  }

  ExecutionRow Run(const std::string& type, const std::string& id, json::value in) {
    auto s = env_->Start(type, id, std::move(in));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    auto row = env_->RunUntilClosed(id);
    EXPECT_TRUE(row.ok()) << row.status().ToString();
    return row.ok() ? *row : ExecutionRow{};
  }
  std::optional<ExecutionRow> Current(const std::string& id) {
    return env_->store().ReadCurrentExecution(id).value();
  }
  // Waits (real time) until workflow `id` exists.
  bool WaitForRun(const std::string& id) {
    for (int i = 0; i < 3000; ++i) {
      if (Current(id)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  std::vector<std::string> EventTypes(const std::string& id) {
    std::vector<std::string> out;
    proto::History h = env_->GetHistory(id).value();
    for (const auto& e : h.events()) {
      const auto* f = proto::HistoryEvent::descriptor()->FindFieldByNumber(e.attributes_case());
      out.push_back(f ? f->name() : "?");
    }
    return out;
  }
  static bool Has(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  }

  Registry registry_;
  std::unique_ptr<TestEnvironment> env_;
};

TEST_F(ChildWorkflowTest, ParentGetsTheResultsOfParallelChildren) {
  auto row = Run("SumOfDoubles", "sum", 3);
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::value(12));  // 2 + 4 + 6
  auto types = EventTypes("sum");
  EXPECT_EQ(std::count(types.begin(), types.end(), "child_workflow_execution_initiated"), 3);
  EXPECT_EQ(std::count(types.begin(), types.end(), "child_workflow_execution_started"), 3);
  EXPECT_EQ(std::count(types.begin(), types.end(), "child_workflow_execution_completed"), 3);
  // The default child id is the parent's id and the command sequence; the child
  // knows its parent.
  auto child = Current("sum/1");
  ASSERT_TRUE(child);
  EXPECT_EQ(child->status, ExecutionStatus::kCompleted);
  EXPECT_EQ(child->parent_run_id, row.run_id);
  auto started = env_->GetHistory("sum/1").value().events(0).workflow_execution_started();
  EXPECT_EQ(started.parent_workflow_id(), "sum");
  EXPECT_EQ(started.parent_run_id(), row.run_id);
  // The parent's history replays against the code.
  auto replay = ReplayHistory(registry_, env_->GetHistory("sum").value());
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_TRUE(replay->closed);
}

TEST_F(ChildWorkflowTest, AChildsFailureReachesTheParentAsChildWorkflowError) {
  auto row = Run("CatchesChildFailure", "catches", nullptr);
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  auto r = ResultOf(row);
  EXPECT_EQ(r.at("type"), "OutOfStock");
  EXPECT_EQ(r.at("message"), "sku-1 is sold out");
  EXPECT_EQ(r.at("child"), "catches/1");
}

TEST_F(ChildWorkflowTest, TerminatePolicyEndsTheChildWithItsParent) {
  Run("StartsAndLeaves", "p-term",
      json::object{{"policy", proto::PARENT_CLOSE_POLICY_TERMINATE}, {"child", "c-term"}});
  auto child = Current("c-term");
  ASSERT_TRUE(child);
  EXPECT_EQ(child->status, ExecutionStatus::kTerminated);
  EXPECT_TRUE(Has(EventTypes("c-term"), "workflow_execution_terminated"));
}

TEST_F(ChildWorkflowTest, AbandonPolicyLetsTheChildRunOn) {
  Run("StartsAndLeaves", "p-abandon",
      json::object{{"policy", proto::PARENT_CLOSE_POLICY_ABANDON}, {"child", "c-abandon"}});
  ASSERT_EQ(Current("c-abandon")->status, ExecutionStatus::kRunning);
  ASSERT_TRUE(env_->engine().history().SignalWorkflow("c-abandon", "go", "late", "test").ok());
  auto row = env_->RunUntilClosed("c-abandon").value();
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::value("late"));  // reported to nobody: the parent is gone
  EXPECT_EQ(Current("p-abandon")->status, ExecutionStatus::kCompleted);
}

TEST_F(ChildWorkflowTest, RequestCancelPolicyAsksTheChildToCancel) {
  Run("StartsAndLeaves", "p-cancel",
      json::object{{"policy", proto::PARENT_CLOSE_POLICY_REQUEST_CANCEL}, {"child", "c-cancel"}});
  auto row = env_->RunUntilClosed("c-cancel").value();
  EXPECT_EQ(row.status, ExecutionStatus::kCancelled);
  EXPECT_TRUE(Has(EventTypes("c-cancel"), "workflow_execution_cancel_requested"));
}

TEST_F(ChildWorkflowTest, ParentCancelsItsChildAndSeesItCancelled) {
  auto row = Run("AwaitsChild", "p-asks", json::object{{"child", "c-asked"}, {"cancel", true}});
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row).at("type"), "Canceled");
  EXPECT_EQ(Current("c-asked")->status, ExecutionStatus::kCancelled);
  EXPECT_TRUE(Has(EventTypes("p-asks"), "request_cancel_child_workflow_execution"));
}

TEST_F(ChildWorkflowTest, TerminatingAChildFailsTheParentsWait) {
  ASSERT_TRUE(
      env_->Start("AwaitsChild", "p-wait", json::object{{"child", "c-killed"}, {"cancel", false}})
          .ok());
  ASSERT_TRUE(WaitForRun("c-killed"));
  ASSERT_TRUE(env_->engine().history().TerminateWorkflow("c-killed", "operator", "test").ok());
  auto row = env_->RunUntilClosed("p-wait").value();
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row).at("type"), "Terminated");
}

TEST_F(ChildWorkflowTest, ChildCompletionReachesTheParent) {
  ASSERT_TRUE(
      env_->Start("AwaitsChild", "p-go", json::object{{"child", "c-go"}, {"cancel", false}}).ok());
  ASSERT_TRUE(WaitForRun("c-go"));
  // The child may not have been started by the parent's task yet; signal once it runs.
  for (int i = 0; i < 3000; ++i) {
    if (env_->engine().history().SignalWorkflow("c-go", "go", "ready", "test").ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto row = env_->RunUntilClosed("p-go").value();
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row).at("result"), "ready");
}

TEST_F(ChildWorkflowTest, ARunningChildIdCannotStartTwice) {
  auto row = Run("SameChildTwice", "twins", nullptr);
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row).at("type"), "WorkflowAlreadyStarted");
  EXPECT_TRUE(Has(EventTypes("twins"), "start_child_workflow_execution_failed"));
  // The one that started was terminated when the parent closed (the default policy).
  EXPECT_EQ(Current("twin")->status, ExecutionStatus::kTerminated);
}

TEST_F(ChildWorkflowTest, ContinueAsNewChainsRunsWithFreshHistories) {
  auto row = Run("Countdown", "countdown", 3);
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::value("liftoff"));
  // Four runs: three continued as new, each history starting afresh.
  auto first = env_->GetHistory("countdown").value();
  EXPECT_LT(first.events_size(), 10);
  auto started = first.events(0).workflow_execution_started();
  EXPECT_FALSE(started.continued_from_run_id().empty());
  int continued = 0;
  std::string run = started.continued_from_run_id();
  while (!run.empty()) {
    auto prev = env_->store().ReadExecution(run).value();
    ASSERT_TRUE(prev);
    EXPECT_EQ(prev->status, ExecutionStatus::kContinuedAsNew);
    ++continued;
    run = env_->store()
              .ReadHistory(run, 1)
              .value()[0]
              .workflow_execution_started()
              .continued_from_run_id();
  }
  EXPECT_EQ(continued, 3);
}

TEST_F(ChildWorkflowTest, AParentGetsTheResultOfAChildThatContinuedAsNew) {
  auto row = Run("AwaitsCountdown", "p-countdown", 2);
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::value("liftoff"));
  auto child = Current("p-countdown/1");
  ASSERT_TRUE(child);
  EXPECT_EQ(child->parent_run_id, row.run_id);  // the last run still knows its parent
}

}  // namespace
}  // namespace keel
