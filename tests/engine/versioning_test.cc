// Deploying changed workflow code over open histories: replay catches an unpatched
// change, a get_version patch keeps old runs on their old path, and queries answer
// from replayed state.

#include <gtest/gtest.h>

#include "engine/combinators.h"
#include "engine/payload.h"
#include "engine/replayer.h"
#include "engine/testing/test_environment.h"

namespace keel {
namespace {

using persistence::ExecutionStatus;

ActivityOptions Quick() {
  ActivityOptions o;
  o.task_queue = "test";
  o.start_to_close_timeout = 5'000;
  return o;
}

// v1: greet, wait for "go", say goodbye. Answers query "progress".
Workflow<json::value> GreeterV1(WorkflowContext& ctx, json::value) {
  json::array said;
  ctx.SetQueryHandler("progress", [&](const json::value&) -> json::value { return said; });
  said.push_back(co_await ctx.ExecuteActivity("Say", "hello", Quick()));
  co_await ctx.GetSignalChannel("go").Receive();
  said.push_back(co_await ctx.ExecuteActivity("Say", "goodbye", Quick()));
  co_return said;
}

// v2 without a patch: a new step before the wait. Old histories no longer match.
Workflow<json::value> GreeterV2Unpatched(WorkflowContext& ctx, json::value) {
  json::array said;
  said.push_back(co_await ctx.ExecuteActivity("Say", "hello", Quick()));
  said.push_back(co_await ctx.ExecuteActivity("Say", "how are you", Quick()));
  co_await ctx.GetSignalChannel("go").Receive();
  said.push_back(co_await ctx.ExecuteActivity("Say", "goodbye", Quick()));
  co_return said;
}

// v2 with a patch: runs that began before the change keep the old path.
Workflow<json::value> GreeterV2Patched(WorkflowContext& ctx, json::value) {
  json::array said;
  ctx.SetQueryHandler("progress", [&](const json::value&) -> json::value { return said; });
  said.push_back(co_await ctx.ExecuteActivity("Say", "hello", Quick()));
  if (ctx.GetVersion("ask-how-are-you", WorkflowContext::kDefaultVersion, 1) == 1) {
    said.push_back(co_await ctx.ExecuteActivity("Say", "how are you", Quick()));
  }
  co_await ctx.GetSignalChannel("go").Receive();
  said.push_back(co_await ctx.ExecuteActivity("Say", "goodbye", Quick()));
  co_return said;
}

void RegisterGreeter(Registry& r, Workflow<json::value> (*fn)(WorkflowContext&, json::value)) {
  r.RegisterActivity(
      "Say", [](ActivityContext&, const json::value& in) { return in; }, "test");
  r.RegisterWorkflow("Greeter", fn);
}

json::value ResultOf(const persistence::ExecutionRow& row) {
  proto::Payload p;
  p.ParseFromString(row.result);
  return FromPayload(p).value();
}

class VersioningTest : public ::testing::Test {
 protected:
  // Starts Greeter under v1 and leaves it open, waiting for "go".
  void SetUp() override {
    RegisterGreeter(v1_, GreeterV1);
    TestEnvironment::Options o;
    o.dir = dir_.path();
    auto env = TestEnvironment::Create(&v1_, o);
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    ASSERT_TRUE((*env)->Start("Greeter", "greet", nullptr).ok());
    for (int i = 0; i < 5000 && !HasTimerOrSignalWait(**env); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    open_ = (*env)->GetHistory("greet").value();
  }
  // The run has recorded the first activity's result and gone quiet.
  static bool HasTimerOrSignalWait(TestEnvironment& env) {
    auto h = env.GetHistory("greet");
    if (!h.ok()) return false;
    int completed_tasks = 0;
    for (const auto& e : h->events()) completed_tasks += e.has_workflow_task_completed();
    return completed_tasks >= 2;
  }

  TempDir dir_ = TempDir::Create("keel-versioning").value();
  Registry v1_;
  proto::History open_;
};

TEST_F(VersioningTest, ReplayCatchesAnUnpatchedChange) {
  ASSERT_TRUE(ReplayHistory(v1_, open_).ok());
  Registry v2;
  RegisterGreeter(v2, GreeterV2Unpatched);
  auto r = ReplayHistory(v2, open_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().reason(), "nondeterminism");
  EXPECT_NE(r.status().message().find("schedule_activity"), std::string::npos)
      << r.status().message();
}

TEST_F(VersioningTest, APatchedChangeReplaysAndOldRunsKeepTheirPath) {
  Registry v2;
  RegisterGreeter(v2, GreeterV2Patched);
  auto r = ReplayHistory(v2, open_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->closed);
  // Deploy v2 over the same data dir: the open run finishes on the old path, a new
  // run takes the new one.
  TestEnvironment::Options o;
  o.dir = dir_.path();
  auto env = TestEnvironment::Create(&v2, o).value();
  ASSERT_TRUE(env->engine().history().SignalWorkflow("greet", "go", nullptr, "test").ok());
  auto old_run = env->RunUntilClosed("greet").value();
  ASSERT_EQ(old_run.status, ExecutionStatus::kCompleted);
  EXPECT_EQ(ResultOf(old_run), json::parse(R"(["hello","goodbye"])"));
  ASSERT_TRUE(env->Start("Greeter", "greet-new", nullptr).ok());
  for (int i = 0; i < 5000; ++i) {
    if (env->engine().history().SignalWorkflow("greet-new", "go", nullptr, "test").ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto new_run = env->RunUntilClosed("greet-new").value();
  EXPECT_EQ(ResultOf(new_run), json::parse(R"(["hello","how are you","goodbye"])"));
}

TEST_F(VersioningTest, QueriesAnswerFromReplayedState) {
  auto v = QueryHistory(v1_, open_, "progress", nullptr);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, json::parse(R"(["hello"])"));
  auto unknown = QueryHistory(v1_, open_, "nope", nullptr);
  EXPECT_EQ(unknown.status().reason(), "unknown_query");
  EXPECT_NE(unknown.status().message().find("progress"), std::string::npos);
}

}  // namespace
}  // namespace keel
