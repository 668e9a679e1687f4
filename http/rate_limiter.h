#pragma once
// Token buckets keyed by client (an address or an account): `rate` requests per
// second with bursts of `burst`. In memory, per process; a bucket that has refilled
// is forgotten, and the number of buckets is capped, so no key space can grow it
// without bound. Thread-safe.

#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace keel::http {

struct RateLimit {
  double rate = 0;   // per second; 0 or less: unlimited
  double burst = 0;  // the bucket's size (at least 1 when limited)
};

class RateLimiter {
 public:
  static constexpr size_t kMaxBuckets = 100'000;

  RateLimiter(RateLimit limit, Clock* clock) : limit_(limit), clock_(clock) {}
  RateLimiter(double rate, double burst, Clock* clock) : RateLimiter({rate, burst}, clock) {}
  // 0 when the request may go ahead (a token is taken); otherwise how long until it
  // may (no token is taken).
  Millis Admit(const std::string& key);
  bool Allow(const std::string& key) { return Admit(key) == 0; }
  bool limited() const { return limit_.rate > 0; }

 private:
  struct Bucket {
    double tokens;
    Millis at;
  };
  void Prune(Millis now);
  RateLimit limit_;
  Clock* clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  Millis last_prune_ = 0;
};

// Failed logins per account back off: once `free_failures` failed in a row, the next
// attempt must wait base_ms, doubling with each further failure up to max_ms. A
// success clears it.
// Thread-safe; entries idle for an hour are forgotten.
class LoginBackoff {
 public:
  struct Options {
    int free_failures = 5;
    Millis base_ms = 1'000;
    Millis max_ms = 15 * 60 * 1000;
  };
  LoginBackoff(Options o, Clock* clock) : o_(o), clock_(clock) {}
  // 0 when a login for `account` may be tried now, else how long to wait.
  Millis Wait(const std::string& account);
  void Failed(const std::string& account);
  void Succeeded(const std::string& account);

 private:
  struct Entry {
    int failures = 0;
    Millis until = 0, last = 0;
  };
  Options o_;
  Clock* clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  Millis last_prune_ = 0;
};

}  // namespace keel::http
