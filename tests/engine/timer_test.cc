// Durable timers: skipped time in the test environment, and firing after restarts.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/temp_dir.h"
#include "engine/engine.h"
#include "engine/testing/test_environment.h"
#include "engine/testing/wait.h"
#include "persistence/sqlite/sqlite_store.h"

namespace keel {
namespace {

Workflow<json::value> SleepFor(WorkflowContext& ctx, json::value in) {
  Millis start = ctx.Now();
  co_await ctx.Sleep(in.as_int64());
  co_return json::value(ctx.Now() - start);
}

Workflow<json::value> CancelBeforeFire(WorkflowContext& ctx, json::value) {
  Timer t = ctx.NewTimer(60 * 60 * 1000);
  co_await ctx.Sleep(10);
  t.Cancel();
  bool fired = co_await t.fired();
  co_return json::value(fired);
}

TEST(TimerTest, ThirtyMinuteTimerFiresInUnderASecondOfWallTime) {
  Registry r;
  r.RegisterWorkflow("SleepFor", SleepFor);
  auto env = TestEnvironment::Create(&r).value();
  auto wall0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(env->Start("SleepFor", "t30", 30 * 60 * 1000).ok());
  auto row = env->RunUntilClosed("t30");
  auto wall = std::chrono::steady_clock::now() - wall0;
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(row->status, persistence::ExecutionStatus::kCompleted);
  EXPECT_GE(row->close_time - row->start_time, 30 * 60 * 1000);
  EXPECT_LT(wall, std::chrono::seconds(1));
}

TEST(TimerTest, CancelledTimerNeverFires) {
  Registry r;
  r.RegisterWorkflow("CancelBeforeFire", CancelBeforeFire);
  auto env = TestEnvironment::Create(&r).value();
  ASSERT_TRUE(env->Start("CancelBeforeFire", "c", nullptr).ok());
  auto row = env->RunUntilClosed("c").value();
  EXPECT_EQ(row.status, persistence::ExecutionStatus::kCompleted);
  auto h = env->GetHistory("c").value();
  int fired = 0, canceled = 0;
  for (const auto& e : h.events()) {
    fired += e.has_timer_fired();
    canceled += e.has_timer_canceled();
  }
  EXPECT_EQ(canceled, 1);
  EXPECT_EQ(fired, 1) << "only the 10 ms sleep fires";
}

TEST(TimerTest, TimerFiresAfterRestartOnFakeClock) {
  Registry r;
  r.RegisterWorkflow("SleepFor", SleepFor);
  auto tmp = TempDir::Create("keel-timer").value();
  const std::string dir = tmp.path();
  TestEnvironment::Options o;
  o.dir = dir;
  {
    auto env = TestEnvironment::Create(&r, o).value();
    ASSERT_TRUE(env->Start("SleepFor", "restart", 30 * 60 * 1000).ok());
    // Let the first workflow task record the timer, then "crash" (stop) before it fires.
    for (int i = 0; i < 2000 && env->store().DueTimers(INT64_MAX, 1).value().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_EQ(env->store().DueTimers(INT64_MAX, 1).value().size(), 1u);
  }
  auto env = TestEnvironment::Create(&r, o).value();
  auto row = env->RunUntilClosed("restart");
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(row->status, persistence::ExecutionStatus::kCompleted);
}

TEST(TimerTest, TimerFiresAfterRestartOnRealClockWithBoundedDelay) {
  Registry r;
  r.RegisterWorkflow("SleepFor", SleepFor);
  auto tmp = TempDir::Create("keel-timer").value();
  const std::string dir = tmp.path();
  persistence::SqliteOptions so;
  so.dir = dir;
  {
    auto store = persistence::OpenSqliteStore(so).value();
    Engine engine(store.get(), &r, EngineOptions());
    engine.Start();
    StartWorkflowRequest req{"real", "SleepFor", kDefaultWorkflowQueue, 400};
    ASSERT_TRUE(engine.history().StartWorkflow(req).ok());
    for (int i = 0; i < 2000 && store->DueTimers(INT64_MAX, 1).value().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    engine.Stop();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // down past the fire time
  auto store = persistence::OpenSqliteStore(so).value();
  Engine engine(store.get(), &r, EngineOptions());
  engine.Start();
  persistence::ExecutionRow row = WaitUntilClosed(*store, "real").value();
  ASSERT_EQ(row.status, persistence::ExecutionStatus::kCompleted);
  auto events = store->ReadHistory(row.run_id, 1).value();
  Millis fire_at = 0, fired = 0;
  for (const auto& e : events) {
    if (e.has_timer_started()) fire_at = e.timer_started().fire_at_ms();
    if (e.has_timer_fired()) fired = e.event_time_ms();
  }
  ASSERT_GT(fire_at, 0);
  EXPECT_GE(fired, fire_at);
  // Down for 700 ms, so it fires late by that much plus at most ~one poll interval.
  EXPECT_LT(fired - fire_at, 700 + 1000);
  engine.Stop();
}

}  // namespace
}  // namespace keel
