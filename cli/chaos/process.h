#pragma once
// One child process of a drill: started from argv with its output appended to a log
// file, and killed, paused, resumed or restarted by PID. Not thread-safe: the drill's
// fault thread owns it.

#include <sys/types.h>

#include <string>
#include <vector>

namespace keel::cli {

class ChildProcess {
 public:
  ChildProcess(std::string name, std::vector<std::string> argv, std::string log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  bool Start();
  void Kill();    // SIGKILL and reap
  void Pause();   // SIGSTOP
  void Resume();  // SIGCONT
  // SIGTERM, then SIGKILL after `grace_ms`; returns the exit code (-1: killed).
  int Stop(int grace_ms = 10'000);
  bool Running();
  bool paused() const { return paused_; }

 private:
  std::string name_;
  std::vector<std::string> argv_;
  std::string log_;
  pid_t pid_ = -1;
  bool paused_ = false;
};

// Every child of this process joins one process group, apart from the drill's own
// (so a Ctrl-C at the terminal reaches only the drill). SIGKILLs that group: what a
// drill that is interrupted does so that none of its processes outlives it.
// Async-signal-safe.
void KillAllChildren();

// A loopback TCP port nobody listens on now.
int FreePort();

}  // namespace keel::cli
