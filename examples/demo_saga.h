#pragma once
// DemoSaga (SPEC section 9): K activities in order on queue "demo", each sleeping
// M ms and recording its effect under an idempotency key; step F fails without
// retry and the completed steps are compensated in reverse; step S (optional)
// fails retryably on every attempt (a stuck saga). The workflow completes with
// {"completed":[1..F-1],"compensated":[F-1..1]} (all K steps and [] when F = 0).

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/registry.h"
#include "examples/effect_log.h"

namespace keel::examples {

inline constexpr const char* kDemoQueue = "demo";

// Registers DemoSaga and its activities. `log` may be null (no effects recorded,
// as in `keel bench engine`); it must outlive the workers.
void RegisterDemo(Registry& registry, EffectLog* log);

// The reordered DemoSaga used by replay tests: compensation first, steps after.
void RegisterReorderedDemoForTest(Registry& registry);

}  // namespace keel::examples
