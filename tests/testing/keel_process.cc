#include "tests/testing/keel_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace keel::testutil {

KeelProcess::KeelProcess(const std::string& binary, std::vector<std::string> args, std::string log)
    : log_(std::move(log)) {
  std::vector<std::string> argv_s;
  argv_s.push_back(binary);
  for (auto& a : args) argv_s.push_back(std::move(a));
  pid_ = fork();
  if (pid_ == 0) {
    if (!freopen(log_.c_str(), "w", stdout) || !freopen(log_.c_str(), "a", stderr)) _exit(126);
    setvbuf(stdout, nullptr, _IONBF, 0);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
}

KeelProcess::~KeelProcess() {
  if (pid_ > 0) Kill();
}

std::string KeelProcess::Log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string KeelProcess::WaitForLog(const std::string& pattern, int timeout_ms) const {
  const std::regex re(pattern);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < until) {
    std::smatch m;
    const std::string text = Log();
    if (std::regex_search(text, m, re)) return m.size() > 1 ? m[1].str() : m[0].str();
    if (pid_ <= 0 || waitpid(pid_, nullptr, WNOHANG) == pid_) {
      const_cast<KeelProcess*>(this)->pid_ = -1;
      return "";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

bool KeelProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int KeelProcess::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGINT);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (std::chrono::steady_clock::now() < until) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return -1;
}

void KeelProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

ServeProcess::ServeProcess(const std::string& binary, const std::string& db, const std::string& log,
                           std::vector<std::string> extra)
    : process_(
          binary,
          [&] {
            std::vector<std::string> a{"serve",       "--db",           db,
                                       "--http",      "127.0.0.1:0",    "--payments-http",
                                       "127.0.0.1:0", "--carrier-http", "127.0.0.1:0"};
            for (auto& e : extra) a.push_back(std::move(e));
            return a;
          }(),
          log) {
  url_ = process_.WaitForLog("Keel API on (http://127\\.0\\.0\\.1:[0-9]+)", 60'000);
  if (url_.empty()) return;
  port_ = static_cast<uint16_t>(std::stoi(url_.substr(url_.rfind(':') + 1)));
  payments_url_ = process_.WaitForLog("Payment gateway: (http://[0-9.:]+)", 5'000);
}

}  // namespace keel::testutil
