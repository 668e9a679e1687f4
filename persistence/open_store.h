#pragma once
// Parses a --db URL and opens that backend. Only main() (and tests) call this.
//   sqlite:DIR                 the embedded store in DIR
//   postgresql://USER:PW@HOST:PORT/DB[?schema=NAME&writers=N]   the scale-out store

#include <memory>
#include <string>

#include "persistence/store.h"

namespace keel::persistence {

struct OpenOptions {
  bool migrate = true;
  std::string synchronous = "FULL";
  Clock* clock = nullptr;
  // PostgreSQL: how long to keep retrying an unreachable server at start-up.
  Millis connect_retry_ms = 30'000;
};

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const OpenOptions& options);
// The URL as it may be shown or logged: any password replaced by ***.
std::string DisplayUrl(const std::string& url);
// The data dir of a sqlite: URL (for files other components keep beside the store).
Result<std::string> SqliteDirOf(const std::string& url);

}  // namespace keel::persistence
