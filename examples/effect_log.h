#pragma once
// Where DemoSaga's activities record their effects, so tests can check that every
// effect happened exactly once: a table beside the engine's store (a SQLite file in
// the data dir, or a "<schema>_demo" schema in PostgreSQL). Applying is idempotent by
// key in one statement; attempts that found their key applied are counted too, so
// tests can see that steps really re-ran. Thread-safe.

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace keel::examples {

class EffectLog {
 public:
  struct Effect {
    int64_t seq;
    std::string key;
    std::string workflow_id;
    int step;
    std::string kind;  // "do" or "undo"
  };
  virtual ~EffectLog() = default;
  // Applies the effect once per key; returns false if the key was already applied.
  virtual Result<bool> Apply(const std::string& key, const std::string& workflow_id, int step,
                             const std::string& kind) = 0;
  // Every applied effect, in the order applied.
  virtual Result<std::vector<Effect>> ReadAll() = 0;
  // How many attempts found their key already applied.
  virtual Result<int64_t> DuplicateAttempts() = 0;
};

// For a --db URL: sqlite:DIR -> DIR/demo_effects.db; postgresql://... -> <schema>_demo.
Result<std::unique_ptr<EffectLog>> OpenEffectLog(const std::string& db_url);

}  // namespace keel::examples
