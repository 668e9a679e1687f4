// Cancellation: a workflow cancel request, a CancellationScope that cancels its timer
// and its running activity (which learns of it at its next heartbeat), then
// compensation; on a real SQLite store.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine/combinators.h"
#include "engine/errors.h"
#include "engine/payload.h"
#include "engine/replayer.h"
#include "engine/testing/test_environment.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

std::atomic<bool> g_started{false}, g_saw_cancel{false};
std::atomic<int> g_attempts{0}, g_undone{0};

ActivityOptions Opts(Millis heartbeat = 0) {
  ActivityOptions o;
  o.task_queue = "test";
  o.start_to_close_timeout = 60'000;
  o.heartbeat_timeout = heartbeat;
  o.retry.initial_interval = 10;
  return o;
}

Workflow<json::value> Cancellable(WorkflowContext& ctx, json::value) {
  CancellationScope scope(ctx);
  auto work = scope.ExecuteActivity("LongWork", nullptr, Opts(30'000));
  Timer deadline = scope.NewTimer(3'600'000);
  size_t which = co_await WhenAny(work, ctx.CancelRequested());
  if (which == 0) co_return "finished first";
  scope.Cancel();
  bool fired = co_await deadline.fired();
  std::string how = "finished";
  try {
    co_await work;
  } catch (const CanceledError&) {
    how = "cancelled";
  }
  // Started after Cancel(): cancelled as it starts.
  auto late = scope.ExecuteActivity("LongWork", nullptr, Opts());
  std::string late_how = "ran";
  try {
    co_await late;
  } catch (const CanceledError&) {
    late_how = "cancelled";
  }
  co_await ctx.GetSignalChannel("continue").Receive();
  co_await ctx.ExecuteActivity("Undo", nullptr, Opts());
  json::object out;
  out["work"] = how;
  out["timer_fired"] = fired;
  out["late"] = late_how;
  co_return out;
}

class CancellationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_started = g_saw_cancel = false;
    g_attempts = g_undone = 0;
    registry_.RegisterActivity(
        "LongWork",
        [](ActivityContext& ctx, const json::value&) -> json::value {
          ++g_attempts;
          g_started = true;
          for (int i = 0; i < 1000; ++i) {
            try {
              ctx.Heartbeat(i);
            } catch (const CanceledError&) {
              g_saw_cancel = true;
              throw;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
          }
          return "done";
        },
        "test");
    registry_.RegisterActivity(
        "Undo",
        [](ActivityContext&, const json::value&) -> json::value {
          ++g_undone;
          return nullptr;
        },
        "test");
    registry_.RegisterWorkflow("Cancellable", Cancellable);
    env_ = TestEnvironment::Create(&registry_).value();
  }
  static bool WaitFor(const std::atomic<bool>& flag) {
    for (int i = 0; i < 5000 && !flag; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return flag;
  }

  Registry registry_;
  std::unique_ptr<TestEnvironment> env_;
};

TEST_F(CancellationTest, AScopeCancelsItsTimerAndItsRunningActivityThenCompensates) {
  ASSERT_TRUE(env_->Start("Cancellable", "c", nullptr).ok());
  ASSERT_TRUE(WaitFor(g_started));
  HistoryService& h = env_->engine().history();
  ASSERT_TRUE(h.RequestCancelWorkflow("c", "buyer changed their mind", "test").ok());
  ASSERT_TRUE(WaitFor(g_saw_cancel)) << "the running activity never heard of the cancel";
  // The attempt ends as cancelled: recorded once, never retried.
  bool recorded = false;
  for (int i = 0; i < 3000 && !recorded; ++i) {
    proto::History hist = env_->GetHistory("c").value();
    for (const auto& e : hist.events()) recorded = recorded || e.has_activity_task_canceled();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(recorded);
  ASSERT_TRUE(h.SignalWorkflow("c", "continue", nullptr, "test").ok());
  auto row = env_->RunUntilClosed("c").value();
  ASSERT_EQ(row.status, ExecutionStatus::kCompleted);
  proto::Payload p;
  p.ParseFromString(row.result);
  EXPECT_EQ(FromPayload(p).value(),
            json::parse(R"({"work":"cancelled","timer_fired":false,"late":"cancelled"})"));
  EXPECT_EQ(g_attempts, 1) << "a cancelled attempt is not retried, the late one never ran";
  EXPECT_EQ(g_undone, 1);
  proto::History hist = env_->GetHistory("c").value();
  int cancel_requests = 0, timer_cancels = 0;
  for (const auto& e : hist.events()) {
    cancel_requests += e.has_activity_task_cancel_requested();
    timer_cancels += e.has_timer_canceled();
  }
  EXPECT_EQ(cancel_requests, 2);
  EXPECT_EQ(timer_cancels, 1);
  auto replay = ReplayHistory(registry_, hist);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  EXPECT_TRUE(replay->closed);
}

}  // namespace
}  // namespace keel
