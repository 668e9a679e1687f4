#pragma once
// The store backends every conformance test runs on, each giving a fresh, empty store:
// SQLite in a temp dir, PostgreSQL in a new schema of the server at KEEL_TEST_PG_URL.
// Without that variable the PostgreSQL cases fail under CI (CI is set) and are skipped
// with a message elsewhere.

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/temp_dir.h"
#include "persistence/store.h"

namespace keel::testutil {

// One fresh store and what it takes to clean it up.
class BackendInstance {
 public:
  virtual ~BackendInstance() = default;
  // A --db URL for the same store (for processes), and the store itself.
  virtual const std::string& url() const = 0;
  virtual Result<std::unique_ptr<persistence::Store>> Open(Clock* clock) = 0;
};

struct Backend {
  std::string name;
  // Returns null (and records a skip or failure) when the backend is unavailable.
  std::function<std::unique_ptr<BackendInstance>()> make;
};

std::vector<Backend> AllBackends();
inline void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

// The server for PostgreSQL tests, or nullopt.
std::optional<std::string> TestPgUrl();
// Checks KEEL_TEST_PG_URL for a test that needs PostgreSQL: true when it is set;
// otherwise fails the test under CI and skips it elsewhere (the caller must return).
bool RequirePostgres();

}  // namespace keel::testutil
