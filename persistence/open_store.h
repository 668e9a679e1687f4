#pragma once
// Parses a --db URL and opens that backend. Only main() (and tests) call this.
//   sqlite:DIR                 the embedded store in DIR
//   postgresql://...           the scale-out store (not built yet: a clear error)

#include <memory>
#include <string>

#include "persistence/store.h"

namespace keel::persistence {

struct OpenOptions {
  bool migrate = true;
  std::string synchronous = "FULL";
  Clock* clock = nullptr;
};

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const OpenOptions& options);
// The data dir of a sqlite: URL (for files other components keep beside the store).
Result<std::string> SqliteDirOf(const std::string& url);

}  // namespace keel::persistence
