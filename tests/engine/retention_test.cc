// Retention: runs closed longer than the retention period are deleted with their
// histories; open runs are never touched.

#include <gtest/gtest.h>

#include <thread>

#include "engine/testing/test_environment.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

Workflow<json::value> Quick(WorkflowContext&, json::value in) { co_return in; }

Workflow<json::value> WaitForGo(WorkflowContext& ctx, json::value) {
  co_return co_await ctx.GetSignalChannel("go").Receive();
}

TEST(RetentionTest, ClosedRunsAreDeletedAfterTheRetentionPeriodOpenOnesStay) {
  Registry r;
  r.RegisterWorkflow("Quick", Quick);
  r.RegisterWorkflow("WaitForGo", WaitForGo);
  TestEnvironment::Options o;
  o.engine.retention_ms = 3'600'000;  // an hour
  auto env = TestEnvironment::Create(&r, o).value();
  ASSERT_TRUE(env->Start("Quick", "done", 1).ok());
  auto closed = env->RunUntilClosed("done").value();
  ASSERT_EQ(closed.status, ExecutionStatus::kCompleted);
  ASSERT_TRUE(env->Start("WaitForGo", "open", nullptr).ok());

  env->clock().Advance(30 * 60'000);  // half the retention: nothing goes
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(env->store().ReadExecution(closed.run_id).value().has_value());

  env->clock().Advance(2 * 3'600'000);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = !env->store().ReadExecution(closed.run_id).value().has_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(gone) << "the closed run outlived its retention";
  EXPECT_TRUE(env->store().ReadHistory(closed.run_id, 1).value().empty());
  EXPECT_FALSE(env->store().ReadCurrentExecution("done").value().has_value());
  auto open = env->store().ReadCurrentExecution("open").value();
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->status, ExecutionStatus::kRunning);
  // The id is free again, and the open run still finishes.
  ASSERT_TRUE(env->Start("Quick", "done", 2).ok());
  ASSERT_TRUE(env->engine().history().SignalWorkflow("open", "go", "yes", "test").ok());
  EXPECT_EQ(env->RunUntilClosed("open").value().status, ExecutionStatus::kCompleted);
}

}  // namespace
}  // namespace keel
