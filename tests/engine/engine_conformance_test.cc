// Engine transitions driven by hand, on every store backend: inputs that arrive while
// a workflow task runs, fencing, lease expiry and re-delivery, timers racing across
// processes, idempotent start, and size limits.

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "engine/history_service.h"
#include "engine/replayer.h"
#include "engine/workflow_instance.h"
#include "tests/testing/backends.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;
using persistence::TaskKind;
using persistence::TaskRow;

Workflow<json::value> CollectTwo(WorkflowContext& ctx, json::value) {
  auto& ch = ctx.GetSignalChannel("go");
  json::value a = co_await ch.Receive();
  json::value b = co_await ch.Receive();
  co_return json::array{a, b};
}

class EngineConformanceTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    instance_ = GetParam().make();
    if (!instance_) return;
    auto s = instance_->Open(&clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    registry_.RegisterWorkflow("CollectTwo", CollectTwo);
    history_ = MakeService("hand");
  }
  void TearDown() override {
    workflow_.reset();
    history_.reset();
    store_.reset();
    instance_.reset();
  }
  std::unique_ptr<HistoryService> MakeService(const std::string& identity,
                                              int64_t max_history = kDefaultMaxHistoryEvents) {
    HistoryServiceOptions ho;
    ho.identity = identity;
    ho.max_history_events = max_history;
    return std::make_unique<HistoryService>(store_.get(), nullptr, ho);
  }
  std::string Start(const std::string& id) {
    StartWorkflowRequest req{id, "CollectTwo", kDefaultWorkflowQueue, nullptr};
    auto r = history_->StartWorkflow(req);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    run_id_ = r.ok() ? r->run_id : "";
    workflow_ = std::make_unique<internal::WorkflowInstance>(
        registry_.FindWorkflow("CollectTwo"),
        WorkflowInfo{id, run_id_, "CollectTwo", kDefaultWorkflowQueue});
    return run_id_;
  }
  std::vector<TaskRow> Lease(HistoryService& h, const std::string& queue, TaskKind kind) {
    auto r = h.LeaseTasks(queue, kind, 10);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<TaskRow>();
  }
  TaskRow LeaseOne() {
    auto rows = Lease(*history_, kDefaultWorkflowQueue, TaskKind::kWorkflow);
    EXPECT_EQ(rows.size(), 1u);
    return rows.empty() ? TaskRow() : rows[0];
  }
  // Runs the workflow on the events it has not seen.
  std::vector<proto::Command> Decide(int64_t* seen) {
    auto events = store_->ReadHistory(run_id_, workflow_->last_event_id() + 1).value();
    auto cmds = workflow_->Apply(events);
    EXPECT_TRUE(cmds.ok()) << cmds.status().ToString();
    *seen = workflow_->last_event_id();
    return cmds.ok() ? *cmds : std::vector<proto::Command>();
  }
  Status Wait(const std::function<void(HistoryService::Done)>& call) {
    std::promise<Status> p;
    call([&](const Status& s) { p.set_value(s); });
    return p.get_future().get();
  }
  Status Complete(const TaskRow& t, int64_t seen, std::vector<proto::Command> cmds) {
    return Wait([&](HistoryService::Done d) {
      history_->CompleteWorkflowTask(t, seen, std::move(cmds), std::move(d));
    });
  }
  std::vector<std::string> Kinds() {
    std::vector<std::string> out;
    for (const auto& e : store_->ReadHistory(run_id_, 1).value()) {
      if (e.has_workflow_task_completed()) {
        out.push_back("wt_completed(" +
                      std::to_string(e.workflow_task_completed().seen_through_event_id()) + ")");
      } else {
        out.push_back(EventTypeNameForTest(e));
      }
    }
    return out;
  }
  static std::string EventTypeNameForTest(const proto::HistoryEvent& e) {
    if (e.has_workflow_execution_signaled()) return "signal";
    if (e.has_workflow_task_scheduled()) return "wt_scheduled";
    if (e.has_workflow_task_started()) return "wt_started";
    if (e.has_workflow_execution_started()) return "started";
    return "other";
  }
  ExecutionStatus StatusOf() { return store_->ReadExecution(run_id_).value()->status; }

  FakeClock clock_{1'000'000};
  std::unique_ptr<testutil::BackendInstance> instance_;
  std::unique_ptr<persistence::Store> store_;
  Registry registry_;
  std::unique_ptr<HistoryService> history_;
  std::unique_ptr<internal::WorkflowInstance> workflow_;
  std::string run_id_;
};

TEST_P(EngineConformanceTest, SignalDuringAWorkflowTaskIsSeenByTheNextOne) {
  Start("w");
  TaskRow t1 = LeaseOne();
  int64_t seen = 0;
  auto cmds = Decide(&seen);  // blocked on the first signal: no commands
  EXPECT_TRUE(cmds.empty());
  EXPECT_EQ(seen, 2);
  // A signal lands while the task is being decided.
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "a", "test").ok());
  ASSERT_TRUE(Complete(t1, seen, cmds).ok());
  // It is after what the worker saw, so another task is scheduled at once.
  EXPECT_EQ(Kinds(), (std::vector<std::string>{"started", "wt_scheduled", "signal", "wt_started",
                                               "wt_completed(2)", "wt_scheduled"}));
  TaskRow t2 = LeaseOne();
  cmds = Decide(&seen);  // receives "a", blocks on the second signal
  EXPECT_TRUE(cmds.empty());
  ASSERT_TRUE(Complete(t2, seen, cmds).ok());
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "b", "test").ok());
  TaskRow t3 = LeaseOne();
  cmds = Decide(&seen);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_TRUE(cmds[0].has_complete_workflow());
  ASSERT_TRUE(Complete(t3, seen, cmds).ok());
  EXPECT_EQ(StatusOf(), ExecutionStatus::kCompleted);
  // The whole history replays from scratch to the same decisions.
  proto::History h;
  for (auto& e : store_->ReadHistory(run_id_, 1).value()) *h.add_events() = e;
  auto report = ReplayHistory(registry_, h);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->closed);
}

TEST_P(EngineConformanceTest, ClosingWithUnseenInputsIsRejectedAndTheTaskRunsAgain) {
  Start("w");
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "a", "test").ok());
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "b", "test").ok());
  TaskRow t1 = LeaseOne();
  int64_t seen = 0;
  auto cmds = Decide(&seen);
  ASSERT_EQ(cmds.size(), 1u);
  ASSERT_TRUE(cmds[0].has_complete_workflow());
  // A third signal arrives before the completion: closing now would lose it.
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "c", "test").ok());
  EXPECT_EQ(Complete(t1, seen, cmds).reason(), "unhandled_events");
  EXPECT_EQ(StatusOf(), ExecutionStatus::kRunning);
  // Offered again at once; a fresh instance sees all three signals.
  workflow_ = std::make_unique<internal::WorkflowInstance>(
      registry_.FindWorkflow("CollectTwo"),
      WorkflowInfo{"w", run_id_, "CollectTwo", kDefaultWorkflowQueue});
  TaskRow t2 = LeaseOne();
  EXPECT_GT(t2.lease_token, t1.lease_token);
  cmds = Decide(&seen);
  ASSERT_TRUE(Complete(t2, seen, cmds).ok());
  EXPECT_EQ(StatusOf(), ExecutionStatus::kCompleted);
}

TEST_P(EngineConformanceTest, AnExpiredLeaseIsRedeliveredAndTheStaleCompletionFenced) {
  Start("w");
  TaskRow t1 = LeaseOne();
  int64_t seen = 0;
  auto cmds = Decide(&seen);
  // The lease ends (the worker stalled); the timer service offers the task again.
  clock_.Advance(10'001);
  auto due = store_->DueTaskDeadlines(clock_.Now(), 10).value();
  ASSERT_EQ(due.size(), 1u);
  ASSERT_TRUE(Wait([&](HistoryService::Done d) {
                history_->HandleTaskDeadline(due[0].id, std::move(d));
              }).ok());
  TaskRow t2 = LeaseOne();
  EXPECT_EQ(t2.id, t1.id);
  EXPECT_EQ(t2.attempt, 2);
  // The stalled worker wakes up and tries to complete: refused, nothing written.
  int64_t before = store_->ReadExecution(run_id_).value()->next_event_id;
  EXPECT_EQ(Complete(t1, seen, cmds).reason(), "stale_task");
  EXPECT_EQ(store_->ReadExecution(run_id_).value()->next_event_id, before);
  EXPECT_TRUE(Complete(t2, seen, cmds).ok());
}

TEST_P(EngineConformanceTest, AnActivityWhoseLeaseEndsIsRetriedAndItsOldResultRefused) {
  Start("w");
  TaskRow wt = LeaseOne();
  int64_t seen = 0;
  Decide(&seen);
  proto::Command c;
  auto* a = c.mutable_schedule_activity();
  a->set_activity_id("1");
  a->set_activity_type("Charge");
  a->mutable_options()->set_task_queue("payment");
  a->mutable_options()->set_start_to_close_timeout_ms(1000);
  a->mutable_options()->mutable_retry_policy()->set_initial_interval_ms(100);
  ASSERT_TRUE(Complete(wt, seen, {c}).ok());
  auto first = Lease(*history_, "payment", TaskKind::kActivity);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(Lease(*history_, "payment", TaskKind::kActivity).empty()) << "leased once";
  clock_.Advance(1000);  // start-to-close passes
  ASSERT_TRUE(Wait([&](HistoryService::Done d) {
                history_->HandleTaskDeadline(first[0].id, std::move(d));
              }).ok());
  EXPECT_TRUE(Lease(*history_, "payment", TaskKind::kActivity).empty()) << "backoff first";
  clock_.Advance(100);
  auto second = Lease(*history_, "payment", TaskKind::kActivity);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempt, 2);
  Status late = Wait(
      [&](HistoryService::Done d) { history_->CompleteActivity(first[0], "late", std::move(d)); });
  EXPECT_EQ(late.reason(), "stale_task");
  ASSERT_TRUE(Wait([&](HistoryService::Done d) {
                history_->CompleteActivity(second[0], "ok", std::move(d));
              }).ok());
  int completed = 0;
  for (const auto& e : store_->ReadHistory(run_id_, 1).value()) {
    if (e.has_activity_task_completed()) {
      ++completed;
      EXPECT_EQ(e.activity_task_completed().result().data(), "\"ok\"");
    }
    if (e.has_activity_task_started()) {
      EXPECT_EQ(e.activity_task_started().last_failure().type(), "StartToCloseTimeout");
    }
  }
  EXPECT_EQ(completed, 1);
}

TEST_P(EngineConformanceTest, ATimerFiresOnceWhenTwoProcessesRace) {
  Start("w");
  TaskRow wt = LeaseOne();
  int64_t seen = 0;
  Decide(&seen);
  proto::Command c;
  c.mutable_start_timer()->set_timer_id("t");
  c.mutable_start_timer()->set_duration_ms(60'000);
  ASSERT_TRUE(Complete(wt, seen, {c}).ok());
  EXPECT_TRUE(store_->DueTimers(clock_.Now(), 10).value().empty());
  clock_.Advance(60'000);
  auto due = store_->DueTimers(clock_.Now(), 10).value();
  ASSERT_EQ(due.size(), 1u);
  // Two timer services (two processes) fire the same timer at once.
  auto other = MakeService("other-process");
  std::promise<Status> a, b;
  history_->FireTimer(due[0], [&](const Status& s) { a.set_value(s); });
  other->FireTimer(due[0], [&](const Status& s) { b.set_value(s); });
  EXPECT_TRUE(a.get_future().get().ok());
  EXPECT_TRUE(b.get_future().get().ok());
  int fired = 0;
  for (const auto& e : store_->ReadHistory(run_id_, 1).value()) fired += e.has_timer_fired();
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(store_->DueTimers(clock_.Now(), 10).value().empty());
}

TEST_P(EngineConformanceTest, StartIsIdempotentAndReusePolicyGovernsClosedIds) {
  std::string first = Start("w");
  StartWorkflowRequest req{"w", "CollectTwo", kDefaultWorkflowQueue, nullptr};
  auto again = history_->StartWorkflow(req);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->started);
  EXPECT_EQ(again->run_id, first);
  ASSERT_TRUE(history_->TerminateWorkflow("w", "test", "test").ok());
  req.reuse_policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
  EXPECT_EQ(history_->StartWorkflow(req).status().reason(), "workflow_id_reuse_rejected");
  req.reuse_policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY;
  auto after_failure = history_->StartWorkflow(req);  // terminated counts as failed
  ASSERT_TRUE(after_failure.ok()) << after_failure.status().ToString();
  EXPECT_TRUE(after_failure->started);
  EXPECT_NE(after_failure->run_id, first);
}

TEST_P(EngineConformanceTest, ARepeatedSignalRequestAppliesOnce) {
  Start("w");
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "a", "test", "req-1").ok());
  ASSERT_TRUE(history_->SignalWorkflow("w", "go", "a", "test", "req-1").ok());
  int signals = 0;
  for (const auto& e : store_->ReadHistory(run_id_, 1).value()) {
    signals += e.has_workflow_execution_signaled();
  }
  EXPECT_EQ(signals, 1);
}

TEST_P(EngineConformanceTest, PayloadsOverTheLimitAreRefusedClearly) {
  Start("w");
  std::string big(kMaxPayloadBytes + 1, 'x');
  Status s = history_->SignalWorkflow("w", "go", json::value(big), "test");
  EXPECT_EQ(s.reason(), "payload_too_large");
  EXPECT_NE(s.message().find(std::to_string(kMaxPayloadBytes)), std::string::npos);
  StartWorkflowRequest req{"w2", "CollectTwo", kDefaultWorkflowQueue, json::value(big)};
  EXPECT_EQ(history_->StartWorkflow(req).status().reason(), "payload_too_large");
  EXPECT_FALSE(store_->ReadCurrentExecution("w2").value().has_value());
  // Just under the limit is fine (the JSON string adds two quote characters).
  std::string fits(kMaxPayloadBytes - 2, 'y');
  EXPECT_TRUE(history_->SignalWorkflow("w", "go", json::value(fits), "test").ok());
}

TEST_P(EngineConformanceTest, AHistoryOverTheLimitTerminatesTheRunClearly) {
  history_ = MakeService("hand", /*max_history=*/8);
  Start("w");
  Status last;
  int sent = 0;
  while (StatusOf() == ExecutionStatus::kRunning && sent < 20) {
    last = history_->SignalWorkflow("w", "noise", sent, "test");
    ++sent;
  }
  EXPECT_EQ(StatusOf(), ExecutionStatus::kTerminated);
  EXPECT_LT(sent, 20);
  proto::Failure f;
  f.ParseFromString(store_->ReadExecution(run_id_).value()->failure);
  EXPECT_EQ(f.type(), "HistoryLimitExceeded");
  EXPECT_EQ(f.code(), "history_too_large");
  EXPECT_NE(f.message().find("limit of 8"), std::string::npos) << f.message();
  EXPECT_EQ(history_->SignalWorkflow("w", "noise", 0, "test").reason(), "workflow_closed");
  EXPECT_TRUE(store_->ListTasksOfRun(run_id_).value().empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, EngineConformanceTest,
                         ::testing::ValuesIn(testutil::AllBackends()),
                         [](const ::testing::TestParamInfo<testutil::Backend>& i) {
                           return i.param.name;
                         });

}  // namespace
}  // namespace keel
