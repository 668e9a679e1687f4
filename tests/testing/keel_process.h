#pragma once
// A real `keel` process for tests: started with fork/exec, its stdout and stderr in a
// log file, stopped by PID (SIGINT, then SIGKILL if it lingers).

#include <sys/types.h>

#include <string>
#include <vector>

namespace keel::testutil {

class KeelProcess {
 public:
  // Starts `binary args...`; output goes to `log`.
  KeelProcess(const std::string& binary, std::vector<std::string> args, std::string log);
  ~KeelProcess();
  KeelProcess(const KeelProcess&) = delete;
  KeelProcess& operator=(const KeelProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The first match of `pattern`'s group 1 in the log, waiting up to `timeout_ms`;
  // "" if it never appears (or the process exited).
  std::string WaitForLog(const std::string& pattern, int timeout_ms = 15'000) const;
  std::string Log() const;
  // SIGINT, then waits up to `timeout_ms`; returns the exit code, or -1 when it had to
  // be killed (SIGKILL) or died of a signal.
  int Stop(int timeout_ms = 15'000);
  void Kill();  // SIGKILL and reap
  bool running();

 private:
  pid_t pid_ = -1;
  std::string log_;
};

// `keel serve` on free loopback ports, on a sqlite data dir, with `extra` flags.
// Its API's base URL ("http://127.0.0.1:PORT") is url(); the gateway's is payments_url().
class ServeProcess {
 public:
  ServeProcess(const std::string& binary, const std::string& db, const std::string& log,
               std::vector<std::string> extra = {});
  bool ok() const { return !url_.empty(); }
  const std::string& url() const { return url_; }
  uint16_t port() const { return port_; }
  const std::string& payments_url() const { return payments_url_; }
  KeelProcess& process() { return process_; }

 private:
  KeelProcess process_;
  std::string url_, payments_url_;
  uint16_t port_ = 0;
};

}  // namespace keel::testutil
