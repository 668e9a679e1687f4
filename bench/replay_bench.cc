// Replay cost of a long history: a DemoSaga of ~1,670 steps makes ~10,000 events.
//   build/bench/keel_replay_bench

#include <benchmark/benchmark.h>

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

}  // namespace
}  // namespace keel

BENCHMARK_MAIN();
