#include "cli/chaos/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace keel::cli {

ChildProcess::ChildProcess(std::string name, std::vector<std::string> argv, std::string log)
    : name_(std::move(name)), argv_(std::move(argv)), log_(std::move(log)) {}

ChildProcess::~ChildProcess() { Kill(); }

namespace {
std::atomic<pid_t> g_children_group{0};  // the first child's pid, once it has started
}  // namespace

void KillAllChildren() {
  if (pid_t g = g_children_group.load(); g > 0) kill(-g, SIGKILL);
}

bool ChildProcess::Start() {
  const pid_t group = g_children_group.load();
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    // A Ctrl-C meant for the drill is not delivered to its children. (If the group
    // has no member left, the child leads a group of its own.)
    if (group == 0 || setpgid(0, group) != 0) setpgid(0, 0);
    int fd = open(log_.c_str(), O_CREAT | O_WRONLY | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    std::vector<char*> argv;
    for (auto& a : argv_) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // The parent sets the group too, so it holds before either side goes on.
  if (group == 0 || setpgid(pid_, group) != 0) setpgid(pid_, pid_);
  pid_t none = 0;
  g_children_group.compare_exchange_strong(none, pid_);
  paused_ = false;
  return true;
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  paused_ = false;
}

void ChildProcess::Pause() {
  if (pid_ > 0 && kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void ChildProcess::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
  paused_ = false;
}

int ChildProcess::Stop(int grace_ms) {
  if (pid_ <= 0) return -1;
  if (paused_) Resume();
  kill(pid_, SIGTERM);
  int status = 0;
  for (int waited = 0; waited < grace_ms; waited += 20) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return -1;
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace keel::cli
