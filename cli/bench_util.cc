#include "cli/bench_util.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
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

void WorkerProcesses::Spawn(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"keel", "worker"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (auto& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    execv("/proc/self/exe", c_argv.data());
    _exit(127);
  }
  if (pid > 0) pids_.push_back(pid);
}

void WorkerProcesses::StopAll() {
  for (pid_t w : pids_) kill(w, SIGTERM);
  for (pid_t w : pids_) waitpid(w, nullptr, 0);
  pids_.clear();
}

}  // namespace keel::cli
