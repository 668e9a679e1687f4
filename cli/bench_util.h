#pragma once
// What the `keel bench` commands share: a store to run on, percentiles, latency files.

#include <sys/types.h>

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

// Bench fleets of `keel worker` processes, started with `args` after "keel worker"
// (their stdout to /dev/null), then stopped with SIGTERM and reaped.
class WorkerProcesses {
 public:
  WorkerProcesses() = default;
  WorkerProcesses(const WorkerProcesses&) = delete;
  WorkerProcesses& operator=(const WorkerProcesses&) = delete;
  ~WorkerProcesses() { StopAll(); }
  void Spawn(const std::vector<std::string>& args);
  void StopAll();

 private:
  std::vector<pid_t> pids_;
};

}  // namespace keel::cli
