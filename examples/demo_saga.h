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

struct sqlite3;
#include "engine/registry.h"

namespace keel::examples {

inline constexpr const char* kDemoQueue = "demo";

// Where demo activities record their effects: a SQLite file of its own. Recording
// is idempotent by key; every attempt is logged too, so tests can see retries.
class EffectLog {
 public:
  struct Effect {
    int64_t seq;
    std::string key;
    std::string workflow_id;
    int step;
    std::string kind;  // "do" or "undo"
  };
  static Result<std::unique_ptr<EffectLog>> Open(const std::string& path);
  ~EffectLog();
  // Applies the effect once per key; returns false if the key was already applied.
  Result<bool> Apply(const std::string& key, const std::string& workflow_id, int step,
                     const std::string& kind);
  Result<std::vector<Effect>> ReadAll();
  // How many attempts ran that found their key already applied.
  Result<int64_t> DuplicateAttempts();

 private:
  EffectLog() = default;
  std::mutex mu_;
  ::sqlite3* db_ = nullptr;
};

// Registers DemoSaga and its activities. `log` may be null (no effects recorded,
// as in `keel bench engine`); it must outlive the workers.
void RegisterDemo(Registry& registry, EffectLog* log);

// The reordered DemoSaga used by replay tests: compensation first, steps after.
void RegisterReorderedDemoForTest(Registry& registry);

}  // namespace keel::examples
