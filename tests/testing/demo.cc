#include "tests/testing/demo.h"

#include <fcntl.h>
#include <unistd.h>

namespace keel::testutil {

json::value ExpectedDemoResult(int steps, int fail_at) {
  int last = fail_at ? fail_at - 1 : steps;
  json::array completed, compensated;
  for (int k = 1; k <= last; ++k) completed.push_back(k);
  if (fail_at) {
    for (int k = last; k >= 1; --k) compensated.push_back(k);
  }
  return json::object{{"completed", completed}, {"compensated", compensated}};
}

std::vector<std::pair<std::string, int>> ExpectedDemoEffects(int steps, int fail_at) {
  int last = fail_at ? fail_at - 1 : steps;
  std::vector<std::pair<std::string, int>> out;
  for (int k = 1; k <= last; ++k) out.emplace_back("do", k);
  if (fail_at) {
    for (int k = last; k >= 1; --k) out.emplace_back("undo", k);
  }
  return out;
}

pid_t SpawnKeelWorker(const std::string& binary, const std::string& url, const std::string& log,
                      const std::vector<std::string>& extra) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<std::string> args = {binary, "worker", "--db", url};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace keel::testutil
