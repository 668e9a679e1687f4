#pragma once
// What the `keel bench` commands share: a store to run on, percentiles, latency files.

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/temp_dir.h"

namespace keel::cli {

// `db` when given; otherwise a fresh SQLite dir made in `*temp` (removed with it),
// named after `prefix`.
Result<std::string> BenchStoreUrl(const std::string& db, const std::string& prefix,
                                  std::optional<TempDir>* temp);

// The p-quantile (0..1) of `sorted` (ascending); 0 when it is empty.
double Percentile(const std::vector<double>& sorted, double p);

// A bench's latencies, one per line in milliseconds (for bench/plot.sh); "" writes
// nothing. Errors name the file.
Status WriteLatencies(const std::string& path, const std::vector<double>& ms);

}  // namespace keel::cli
