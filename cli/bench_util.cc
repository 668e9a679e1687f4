#include "cli/bench_util.h"

#include <algorithm>
#include <fstream>

namespace keel::cli {

Result<std::string> BenchStoreUrl(const std::string& db, const std::string& prefix,
                                  std::optional<TempDir>* temp) {
  if (!db.empty()) return db;
  KEEL_ASSIGN_OR_RETURN(TempDir made, TempDir::Create(prefix));
  temp->emplace(std::move(made));
  return "sqlite:" + (*temp)->path();
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

Status WriteLatencies(const std::string& path, const std::vector<double>& ms) {
  if (path.empty()) return Status::Ok();
  std::ofstream out(path, std::ios::trunc);
  for (double v : ms) out << v << "\n";
  out.close();
  if (!out) return Status::InvalidArgument("--latencies: cannot write " + path);
  return Status::Ok();
}

}  // namespace keel::cli
