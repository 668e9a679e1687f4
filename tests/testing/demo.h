#pragma once
// What a DemoSaga of `steps` steps failing at `fail_at` (0 = none) must produce, for
// tests that check runs and effects after crashes; and spawning `keel worker`s.

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "common/json.h"

namespace keel::testutil {

// {"completed":[1..F-1],"compensated":[F-1..1]} (all steps and [] when fail_at is 0).
json::value ExpectedDemoResult(int steps, int fail_at);
// The effects in the order they must be applied: ("do", k)... then ("undo", k) in reverse.
std::vector<std::pair<std::string, int>> ExpectedDemoEffects(int steps, int fail_at);

// Starts `binary worker --db url <extra...>` with stdout and stderr in `log`.
pid_t SpawnKeelWorker(const std::string& binary, const std::string& url, const std::string& log,
                      const std::vector<std::string>& extra);

}  // namespace keel::testutil
