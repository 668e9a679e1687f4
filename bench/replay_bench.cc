// Replay cost of a long history: a DemoSaga of ~1,670 steps makes ~10,000 events.
// And command matching alone: one workflow task that scheduled N activities at once,
// whose N commands replay matches against the N recorded events in one pass.
//   build/bench/keel_replay_bench

#include <benchmark/benchmark.h>

#include <thread>

#include "engine/replayer.h"
#include "engine/testing/test_environment.h"
#include "examples/demo_saga.h"

namespace keel {
namespace {

const proto::History& LongHistory() {
  static proto::History h = [] {
    Registry r;
    examples::RegisterDemo(r, nullptr);
    auto env = TestEnvironment::Create(&r).value();
    (void)env->Start("DemoSaga", "long", json::parse(R"({"steps":1667})"));
    (void)env->RunUntilClosed("long", 600'000);
    return env->GetHistory("long").value();
  }();
  return h;
}

void BM_ReplayHistory(benchmark::State& state) {
  Registry r;
  examples::RegisterDemo(r, nullptr);
  const proto::History& h = LongHistory();
  for (auto _ : state) {
    auto report = ReplayHistory(r, h);
    if (!report.ok()) state.SkipWithError(report.status().ToString().c_str());
    benchmark::DoNotOptimize(report);
  }
  state.counters["events"] = h.events_size();
  state.counters["events_per_s"] = benchmark::Counter(
      static_cast<double>(h.events_size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ReplayHistory)->Unit(benchmark::kMillisecond);

Workflow<json::value> FanOut(WorkflowContext& ctx, json::value raw) {
  const int64_t n = raw.at("n").as_int64();
  ActivityOptions o;
  std::vector<Future<json::value>> all;
  for (int64_t i = 0; i < n; ++i) {
    all.push_back(ctx.ExecuteActivity("FanStep", json::value(i), o));
  }
  for (auto& f : all) co_await f;
  co_return json::value(n);
}

void RegisterFanOut(Registry& r) {
  r.RegisterWorkflow("FanOut", FanOut);
  r.RegisterActivity(
      "FanStep", [](ActivityContext&, const json::value& in) { return in; }, examples::kDemoQueue);
}

// Only the workflow task that made the N commands: its completion and the N
// ActivityTaskScheduled events, without the results that follow.
proto::History FanOutHistory(int64_t n) {
  Registry r;
  RegisterFanOut(r);
  auto env = TestEnvironment::Create(&r).value();
  (void)env->Start("FanOut", "fan", json::object{{"n", n}});
  // The first workflow task's N commands are all this needs; the run need not close.
  proto::History full;
  for (int waited = 0; waited < 30'000; waited += 10) {
    full = env->GetHistory("fan").value();
    int scheduled = 0;
    for (const auto& e : full.events()) scheduled += e.has_activity_task_scheduled();
    if (scheduled >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  proto::History h;
  bool scheduled = false;
  for (const auto& e : full.events()) {
    if (scheduled && !e.has_activity_task_scheduled()) break;
    scheduled = scheduled || e.has_activity_task_scheduled();
    *h.add_events() = e;
  }
  return h;
}

void BM_MatchFanOutCommands(benchmark::State& state) {
  Registry r;
  RegisterFanOut(r);
  const proto::History h = FanOutHistory(state.range(0));
  for (auto _ : state) {
    auto report = ReplayHistory(r, h);
    if (!report.ok()) state.SkipWithError(report.status().ToString().c_str());
    benchmark::DoNotOptimize(report);
  }
  int scheduled = 0;
  for (const auto& e : h.events()) scheduled += e.has_activity_task_scheduled();
  if (scheduled != state.range(0)) state.SkipWithError("the history lacks the commands");
  state.counters["commands_per_s"] = benchmark::Counter(
      static_cast<double>(scheduled), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MatchFanOutCommands)->Arg(10)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace keel

BENCHMARK_MAIN();
