// Replay: canned histories against current code, nondeterminism detection, and
// the sticky cache agreeing with full replay.

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/payload.h"
#include "engine/replayer.h"
#include "engine/testing/test_environment.h"
#include "examples/demo_saga.h"

namespace keel {
namespace {

proto::History LoadTestdata(const std::string& name) {
  std::ifstream in(std::string(KEEL_TESTDATA_DIR) + "/" + name);
  EXPECT_TRUE(in.good()) << "missing testdata " << name;
  std::stringstream ss;
  ss << in.rdbuf();
  auto h = ParseHistoryJson(ss.str());
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : proto::History();
}

TEST(ReplayTest, CannedDemoSagaHistoryReplays) {
  Registry r;
  examples::RegisterDemo(r, nullptr);
  proto::History h = LoadTestdata("demo_saga_fail_at_3.json");
  ASSERT_GT(h.events_size(), 20);
  auto report = ReplayHistory(r, h);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->closed);
  EXPECT_EQ(report->events, h.events_size());
}

TEST(ReplayTest, ReorderedDemoSagaIsReportedAsNondeterministic) {
  Registry r;
  examples::RegisterReorderedDemoForTest(r);
  auto report = ReplayHistory(r, LoadTestdata("demo_saga_fail_at_3.json"));
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().reason(), "nondeterminism");
  EXPECT_NE(report.status().message().find("start_timer"), std::string::npos)
      << report.status().message();
}

TEST(ReplayTest, HistoryWithAGapIsCorrupt) {
  Registry r;
  examples::RegisterDemo(r, nullptr);
  proto::History h = LoadTestdata("demo_saga_fail_at_3.json");
  h.mutable_events()->DeleteSubrange(6, 1);
  auto report = ReplayHistory(r, h);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().reason(), "history_corrupt");
}

TEST(ReplayTest, ChangedActivityTypeIsNondeterministic) {
  Registry r;
  examples::RegisterDemo(r, nullptr);
  proto::History h = LoadTestdata("demo_saga_fail_at_3.json");
  for (auto& e : *h.mutable_events()) {
    if (e.has_activity_task_scheduled()) {
      e.mutable_activity_task_scheduled()->set_activity_type("SomethingElse");
      break;
    }
  }
  EXPECT_EQ(ReplayHistory(r, h).status().reason(), "nondeterminism");
}

// Every history the engine writes must replay cleanly from scratch.
TEST(ReplayTest, FreshHistoriesReplayWithAndWithoutTheStickyCache) {
  for (size_t cache : {size_t{0}, size_t{1000}}) {
    Registry r;
    examples::RegisterDemo(r, nullptr);
    TestEnvironment::Options o;
    o.engine.cache_size = cache;
    auto env = TestEnvironment::Create(&r, o).value();
    ASSERT_TRUE(env->Start("DemoSaga", "w", json::parse(R"({"steps":6,"fail_at":5})")).ok());
    auto row = env->RunUntilClosed("w").value();
    proto::Payload p;
    p.ParseFromString(row.result);
    EXPECT_EQ(FromPayload(p).value(),
              json::parse(R"({"completed":[1,2,3,4],"compensated":[4,3,2,1]})"));
    auto h = env->GetHistory("w").value();
    auto report = ReplayHistory(r, h);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->closed);
  }
}

}  // namespace
}  // namespace keel
