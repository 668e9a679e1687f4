#pragma once
// Long-polls that hold no thread (SPEC section 4: a ?wait= never holds a server
// thread). A wait is a Deferred reply parked here under one or more keys ("order:ID",
// "run:WORKFLOW_ID") until its check says it is over or its deadline passes.
//
// A parked wait's check runs on this registry's one thread:
// - at once when parked, and whenever one of its keys is notified (this process
//   changed the order, or closed the run);
// - on a poll that starts at first_poll_ms and backs off to max_poll_ms, for changes
//   that other processes make (a worker on another machine confirms the order);
// - at its deadline, and on Stop(), with final = true: it must answer then.
// Waits are capped per owner (an account) and in total; past a cap the answer is 429
// too_many_waiters with Retry-After. Thread-safe.

#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "http/server.h"

namespace keel::http {

struct WaitersOptions {
  int max_total = 4096;
  int max_per_owner = 64;
  Millis first_poll_ms = 50;
  Millis max_poll_ms = 1000;
};

// The keys waits park under, and notifications name.
inline std::string OrderWaitKey(const std::string& order_id) { return "order:" + order_id; }
inline std::string RunWaitKey(const std::string& workflow_id) { return "run:" + workflow_id; }

class Waiters {
 public:
  // Returns the response once the wait is over; must return one when `final`.
  using Check = std::function<std::optional<Response>(bool final)>;

  explicit Waiters(WaitersOptions options = {});
  ~Waiters();
  // A Deferred reply that answers with check's response, or 429 too_many_waiters.
  Reply Park(std::vector<std::string> keys, const std::string& owner, Millis wait_ms, Check check);
  void Notify(const std::string& key);
  // Answers every parked wait now (final checks) and refuses new ones the same way.
  void Stop();
  size_t parked() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Waiter {
    std::vector<std::string> keys;
    std::string owner;
    Clock::time_point deadline, next_check;
    Millis interval;
    Check check;
    Respond respond;
  };
  void Loop();
  void Forget(uint64_t id);  // mu_ held

  WaitersOptions o_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Waiter> waiters_;
  std::unordered_multimap<std::string, uint64_t> by_key_;
  std::unordered_map<std::string, int> per_owner_;
  std::unordered_set<std::string> notified_;
  int reserved_ = 0;  // parked but not yet started by the server
  uint64_t next_id_ = 1;
  bool added_ = false;  // a wait was parked since the loop last looked
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace keel::http
