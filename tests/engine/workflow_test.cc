// Engine behaviour through the public workflow API, on a real SQLite store.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/metrics.h"
#include "engine/combinators.h"
#include "engine/errors.h"
#include "engine/payload.h"
#include "engine/replayer.h"
#include "engine/saga.h"
#include "engine/testing/test_environment.h"
#include "examples/demo_saga.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

json::value ResultOf(const persistence::ExecutionRow& row) {
  proto::Payload p;
  p.ParseFromString(row.result);
  return FromPayload(p).value();
}

proto::Failure FailureOf(const persistence::ExecutionRow& row) {
  proto::Failure f;
  f.ParseFromString(row.failure);
  return f;
}

ActivityOptions Quick(const std::string& queue = "test") {
  ActivityOptions o;
  o.task_queue = queue;
  o.start_to_close_timeout = 5'000;
  o.retry.initial_interval = 10;
  o.retry.maximum_interval = 50;
  return o;
}

std::atomic<int> g_flaky_calls{0};

void RegisterTestActivities(Registry& r) {
  r.RegisterActivity(
      "Echo", [](ActivityContext&, const json::value& in) { return in; }, "test");
  r.RegisterActivity(
      "Flaky",
      [](ActivityContext& ctx, const json::value& in) -> json::value {
        ++g_flaky_calls;
        if (ctx.info().attempt < in.as_int64()) {
          throw ApplicationError("Transient", "attempt " + std::to_string(ctx.info().attempt));
        }
        return json::value(ctx.info().attempt);
      },
      "test");
  r.RegisterActivity(
      "Decline",
      [](ActivityContext&, const json::value&) -> json::value {
        throw ApplicationError("CardDeclined", "insufficient funds", true);
      },
      "test");
  r.RegisterActivity(
      "HeartbeatThenHang",
      [](ActivityContext& ctx, const json::value&) -> json::value {
        // Resumes from the last heartbeat of an earlier attempt.
        int64_t from =
            ctx.info().heartbeat_details.is_int64() ? ctx.info().heartbeat_details.as_int64() : 0;
        if (ctx.info().attempt == 1) {
          ctx.Heartbeat(json::value(from + 5));
          std::this_thread::sleep_for(std::chrono::milliseconds(300));  // then goes silent
          return json::value(-1);
        }
        return json::value(from);
      },
      "test");
  r.RegisterActivity(
      "Slow",
      [](ActivityContext& ctx, const json::value& in) -> json::value {
        std::this_thread::sleep_for(std::chrono::milliseconds(in.as_int64()));
        return json::value(ctx.info().attempt);
      },
      "test");
}

// ---- Workflows used below (free functions: arguments by value) ----

Workflow<json::value> EchoTwice(WorkflowContext& ctx, json::value in) {
  auto a = co_await ctx.ExecuteActivity("Echo", in, Quick());
  auto b =
      co_await ctx.ExecuteActivity("Echo", json::value(std::string(a.as_string()) + "!"), Quick());
  co_return b;
}

Workflow<json::value> RetryThenSucceed(WorkflowContext& ctx, json::value in) {
  auto attempts = co_await ctx.ExecuteActivity("Flaky", in, Quick());
  co_return attempts;
}

Workflow<json::value> CatchDecline(WorkflowContext& ctx, json::value) {
  try {
    co_await ctx.ExecuteActivity("Decline", nullptr, Quick());
  } catch (const ActivityError& e) {
    co_return json::object{{"type", e.type()},
                           {"message", e.what()},
                           {"retryable", e.retryable()},
                           {"activity", e.activity_type()}};
  }
  co_return "not reached";
}

Workflow<json::value> ParallelEcho(WorkflowContext& ctx, json::value in) {
  std::vector<Future<json::value>> fs;
  for (int i = 0; i < in.as_int64(); ++i) {
    fs.push_back(ctx.ExecuteActivity("Echo", json::value(i), Quick()));
  }
  auto all = co_await WhenAll(fs);
  json::array out(all.begin(), all.end());
  co_return out;
}

Workflow<json::value> WaitForSignalOrTimeout(WorkflowContext& ctx, json::value in) {
  auto& ch = ctx.GetSignalChannel("approve");
  Timer t = ctx.NewTimer(in.as_int64());
  auto sig = ch.Receive();
  size_t which = co_await WhenAny(sig, t.fired());
  if (which == 0) {
    t.Cancel();
    co_return json::object{{"signal", sig.Get()}};
  }
  co_return json::object{{"timeout", true}};
}

Workflow<json::value> DeterministicBits(WorkflowContext& ctx, json::value) {
  uint64_t r = ctx.Random();
  std::string u = ctx.NewUuid();
  json::value side = ctx.SideEffect([] { return json::value(42); });
  Millis before = ctx.Now();
  co_await ctx.Sleep(1000);
  Millis after = ctx.Now();
  co_return json::object{{"r", r}, {"u", u}, {"side", side}, {"slept", after - before >= 1000}};
}

Workflow<json::value> SlowActivityWithTimeout(WorkflowContext& ctx, json::value in) {
  ActivityOptions o = Quick();
  o.start_to_close_timeout = 200;
  o.retry.maximum_attempts = 2;
  try {
    co_return co_await ctx.ExecuteActivity("Slow", in, o);
  } catch (const ActivityError& e) {
    co_return json::object{{"type", e.type()}, {"attempts", e.attempts()}};
  }
}

Workflow<json::value> HeartbeatTimeout(WorkflowContext& ctx, json::value) {
  ActivityOptions o = Quick();
  o.heartbeat_timeout = 100;
  o.start_to_close_timeout = 60'000;
  co_return co_await ctx.ExecuteActivity("HeartbeatThenHang", nullptr, o);
}

// An activity on a queue nobody serves: only its timeouts can end it.
Workflow<json::value> Unserved(WorkflowContext& ctx, json::value kind) {
  ActivityOptions o = Quick("nobody-polls-this");
  if (kind == "start") o.schedule_to_start_timeout = 5 * 60'000;
  if (kind == "close") o.schedule_to_close_timeout = 10 * 60'000;
  try {
    co_await ctx.ExecuteActivity("Echo", nullptr, o);
  } catch (const ActivityError& e) {
    co_return json::object{{"type", e.type()}};
  }
  co_return nullptr;
}

Workflow<json::value> FailsItself(WorkflowContext&, json::value) {
  throw ApplicationError("OrderInvalid", "no lines", true);
  co_return nullptr;
}

class WorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterTestActivities(registry_);
    examples::RegisterDemo(registry_, nullptr);
    registry_.RegisterWorkflow("EchoTwice", EchoTwice);
    registry_.RegisterWorkflow("RetryThenSucceed", RetryThenSucceed);
    registry_.RegisterWorkflow("CatchDecline", CatchDecline);
    registry_.RegisterWorkflow("ParallelEcho", ParallelEcho);
    registry_.RegisterWorkflow("WaitForSignalOrTimeout", WaitForSignalOrTimeout);
    registry_.RegisterWorkflow("DeterministicBits", DeterministicBits);
    registry_.RegisterWorkflow("SlowActivityWithTimeout", SlowActivityWithTimeout);
    registry_.RegisterWorkflow("FailsItself", FailsItself);
    registry_.RegisterWorkflow("HeartbeatTimeout", HeartbeatTimeout);
    registry_.RegisterWorkflow("Unserved", Unserved);
    auto env = TestEnvironment::Create(&registry_);
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    env_ = std::move(env).value();
  }

  persistence::ExecutionRow Run(const std::string& type, const std::string& id, json::value in) {
    auto s = env_->Start(type, id, std::move(in));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    auto row = env_->RunUntilClosed(id);
    EXPECT_TRUE(row.ok()) << row.status().ToString();
    return row.ok() ? *row : persistence::ExecutionRow{};
  }

  Registry registry_;
  std::unique_ptr<TestEnvironment> env_;
};

TEST_F(WorkflowTest, ActivitiesRunInOrderAndPassResults) {
  auto row = Run("EchoTwice", "echo-1", "hi");
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::value("hi!"));
}

// A workflow task handed over in process carries the events its creating transition
// appended, and the cached instance has already applied its own completion: the
// store is not read back. (The outcome is checked too: the shortcut must not change it.)
TEST_F(WorkflowTest, WorkflowTasksUseTheEventsHandedOverWithThem) {
  auto counter = [](const char* source) {
    return Metrics::Global()
        .GetCounter("keel_workflow_task_history_total", "", {{"source", source}})
        .value();
  };
  int64_t attached = counter("attached"), read = counter("store");
  auto row = Run("EchoTwice", "handover", "hi");
  EXPECT_EQ(ResultOf(row), json::value("hi!"));
  EXPECT_GE(counter("attached") - attached, 2)
      << "read from the store: " << counter("store") - read;
  auto replay = ReplayHistory(registry_, env_->GetHistory("handover").value());
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
}

TEST_F(WorkflowTest, DemoSagaCompletesAllSteps) {
  auto row = Run("DemoSaga", "demo-ok", json::parse(R"({"steps":4,"fail_at":0,"activity_ms":0})"));
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::parse(R"({"completed":[1,2,3,4],"compensated":[]})"));
}

TEST_F(WorkflowTest, DemoSagaCompensatesInReverse) {
  auto row = Run("DemoSaga", "demo-f", json::parse(R"({"steps":5,"fail_at":4,"activity_ms":0})"));
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::parse(R"({"completed":[1,2,3],"compensated":[3,2,1]})"));
}

TEST_F(WorkflowTest, RetryableFailuresRetryWithBackoffUntilSuccess) {
  g_flaky_calls = 0;
  auto row = Run("RetryThenSucceed", "flaky", 3);
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::value(3));
  EXPECT_EQ(g_flaky_calls.load(), 3);
  // Retries are not history: one scheduled, one started (attempt 3), one completed.
  auto h = env_->GetHistory("flaky").value();
  int started = 0;
  for (const auto& e : h.events()) {
    if (e.has_activity_task_started()) {
      ++started;
      EXPECT_EQ(e.activity_task_started().attempt(), 3);
      EXPECT_EQ(e.activity_task_started().last_failure().type(), "Transient");
    }
  }
  EXPECT_EQ(started, 1);
}

TEST_F(WorkflowTest, NonRetryableFailureSurfacesAsActivityError) {
  auto row = Run("CatchDecline", "decline", nullptr);
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  auto r = ResultOf(row);
  EXPECT_EQ(r.at("type"), "CardDeclined");
  EXPECT_EQ(r.at("message"), "insufficient funds");
  EXPECT_EQ(r.at("retryable"), false);
  EXPECT_EQ(r.at("activity"), "Decline");
}

TEST_F(WorkflowTest, WorkflowThrowingApplicationErrorFails) {
  auto row = Run("FailsItself", "fails", nullptr);
  EXPECT_EQ(row.status, ExecutionStatus::kFailed);
  EXPECT_EQ(FailureOf(row).type(), "OrderInvalid");
}

TEST_F(WorkflowTest, WhenAllRunsActivitiesInParallel) {
  auto row = Run("ParallelEcho", "par", 5);
  EXPECT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row), json::parse("[0,1,2,3,4]"));
  // All five were scheduled by the first workflow task.
  auto h = env_->GetHistory("par").value();
  int first_completed = -1;
  for (int i = 0; i < h.events_size(); ++i) {
    if (h.events(i).has_workflow_task_completed()) {
      first_completed = i;
      break;
    }
  }
  ASSERT_GE(first_completed, 0);
  for (int k = 1; k <= 5; ++k)
    EXPECT_TRUE(h.events(first_completed + k).has_activity_task_scheduled());
}

TEST_F(WorkflowTest, SignalWinsRaceAgainstTimerAndCancelsIt) {
  ASSERT_TRUE(env_->Start("WaitForSignalOrTimeout", "sig", 60'000).ok());
  // Wait until the workflow is blocked on the timer, then signal.
  for (int i = 0; i < 2000; ++i) {
    auto h = env_->GetHistory("sig").value();
    if (h.events_size() >= 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(env_->engine().history().SignalWorkflow("sig", "approve", "yes", "test").ok());
  auto row = env_->RunUntilClosed("sig").value();
  EXPECT_EQ(ResultOf(row), json::parse(R"({"signal":"yes"})"));
  bool canceled = false;
  auto history = env_->GetHistory("sig").value();
  for (const auto& e : history.events()) canceled |= e.has_timer_canceled();
  EXPECT_TRUE(canceled);
  auto timers = env_->store().DueTimers(INT64_MAX, 10).value();
  EXPECT_TRUE(timers.empty()) << "the cancelled timer row must be gone";
}

TEST_F(WorkflowTest, TimerWinsWhenNoSignalArrives) {
  auto row = Run("WaitForSignalOrTimeout", "nosig", 30 * 60 * 1000);
  EXPECT_EQ(ResultOf(row), json::parse(R"({"timeout":true})"));
}

TEST_F(WorkflowTest, SignalToClosedOrMissingWorkflowIsAClearError) {
  Run("EchoTwice", "closed", "x");
  Status s = env_->engine().history().SignalWorkflow("closed", "approve", nullptr, "test");
  EXPECT_EQ(s.reason(), "workflow_closed");
  s = env_->engine().history().SignalWorkflow("nope", "approve", nullptr, "test");
  EXPECT_EQ(s.reason(), "workflow_not_found");
}

TEST_F(WorkflowTest, DeterministicApisReplayToTheSameValues) {
  auto row = Run("DeterministicBits", "det", nullptr);
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  auto r = ResultOf(row);
  EXPECT_EQ(r.at("side"), 42);
  EXPECT_EQ(r.at("slept"), true);
  // A full replay of the stored history reproduces the same commands (no mismatch),
  // including the side-effect marker.
  auto h = env_->GetHistory("det").value();
  bool marker = false;
  for (const auto& e : h.events()) marker |= e.has_marker_recorded();
  EXPECT_TRUE(marker);
}

// Timeouts count workflow time. The fake clock skips only while idle, so a
// running activity never times out by itself here: the test moves time on.
TEST_F(WorkflowTest, StartToCloseTimeoutRetriesThenFails) {
  ASSERT_TRUE(env_->Start("SlowActivityWithTimeout", "slow", 1000).ok());
  auto row = env_->store().ReadCurrentExecution("slow").value();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    bool leased = false;
    for (int i = 0; i < 3000 && !leased; ++i) {
      for (const auto& t : env_->store().ListTasksOfRun(row->run_id).value()) {
        leased |= t.kind == persistence::TaskKind::kActivity && !t.lease_owner.empty() &&
                  t.attempt == attempt;
      }
      if (!leased) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        if (attempt > 1) env_->clock().Advance(1);  // through the retry backoff
      }
    }
    ASSERT_TRUE(leased) << "attempt " << attempt << " never started";
    env_->clock().Advance(250);  // past the 200 ms start-to-close timeout
  }
  auto closed = env_->RunUntilClosed("slow").value();
  ASSERT_EQ(closed.status, ExecutionStatus::kCompleted);
  auto r = ResultOf(closed);
  EXPECT_EQ(r.at("type"), "StartToCloseTimeout");
  EXPECT_EQ(r.at("attempts"), 2);
}

TEST_F(WorkflowTest, HeartbeatTimeoutRetriesAndTheRetryResumesFromTheHeartbeat) {
  ASSERT_TRUE(env_->Start("HeartbeatTimeout", "hb", nullptr).ok());
  auto row = env_->store().ReadCurrentExecution("hb").value();
  // Wait for the first attempt's heartbeat, then let its heartbeat deadline pass.
  bool beat = false;
  for (int i = 0; i < 3000 && !beat; ++i) {
    for (const auto& t : env_->store().ListTasksOfRun(row->run_id).value()) {
      proto::ActivityTaskInfo info;
      info.ParseFromString(t.info);
      beat |= info.has_heartbeat_details();
    }
    if (!beat) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(beat);
  env_->clock().Advance(150);
  for (int i = 0; i < 50; ++i) {  // through the retry backoff
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    env_->clock().Advance(5);
  }
  auto closed = env_->RunUntilClosed("hb").value();
  ASSERT_EQ(closed.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(closed), json::value(5)) << "attempt 2 resumed from the heartbeat";
  auto h = env_->GetHistory("hb").value();
  for (const auto& e : h.events()) {
    if (e.has_activity_task_started()) {
      EXPECT_EQ(e.activity_task_started().attempt(), 2);
      EXPECT_EQ(e.activity_task_started().last_failure().type(), "HeartbeatTimeout");
    }
  }
}

TEST_F(WorkflowTest, ScheduleToStartTimeoutEndsAnUnservedActivity) {
  auto row = Run("Unserved", "s2s", "start");
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row).at("type"), "ScheduleToStartTimeout");
  EXPECT_GE(row.close_time - row.start_time, 5 * 60'000);
}

TEST_F(WorkflowTest, ScheduleToCloseTimeoutEndsAnUnservedActivity) {
  auto row = Run("Unserved", "s2c", "close");
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(row).at("type"), "ScheduleToCloseTimeout");
  EXPECT_GE(row.close_time - row.start_time, 10 * 60'000);
}

TEST_F(WorkflowTest, StartIsIdempotentWhileRunning) {
  auto a = env_->Start("WaitForSignalOrTimeout", "idem", 60'000);
  auto b = env_->Start("WaitForSignalOrTimeout", "idem", 60'000);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->started);
  EXPECT_FALSE(b->started);
  EXPECT_EQ(a->run_id, b->run_id);
}

TEST_F(WorkflowTest, ReusePolicyGovernsClosedIds) {
  Run("EchoTwice", "reuse", "a");
  StartWorkflowRequest req;
  req.workflow_id = "reuse";
  req.workflow_type = "EchoTwice";
  req.task_queue = kDefaultWorkflowQueue;
  req.input = "b";
  req.reuse_policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
  auto rejected = env_->engine().history().StartWorkflow(req);
  EXPECT_EQ(rejected.status().reason(), "workflow_id_reuse_rejected");
  req.reuse_policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY;
  EXPECT_EQ(env_->engine().history().StartWorkflow(req).status().reason(),
            "workflow_id_reuse_rejected");
  req.reuse_policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE;
  auto again = env_->engine().history().StartWorkflow(req);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->started);
  auto row = env_->RunUntilClosed("reuse").value();
  EXPECT_EQ(ResultOf(row), json::value("b!"));
}

TEST_F(WorkflowTest, TerminateClosesRunAndDropsItsTasks) {
  ASSERT_TRUE(env_->Start("WaitForSignalOrTimeout", "term", 60'000).ok());
  ASSERT_TRUE(env_->engine().history().TerminateWorkflow("term", "operator", "test").ok());
  auto row = env_->RunUntilClosed("term").value();
  EXPECT_EQ(row.status, ExecutionStatus::kTerminated);
  EXPECT_TRUE(env_->store().ListTasksOfRun(row.run_id).value().empty());
}

}  // namespace
}  // namespace keel
