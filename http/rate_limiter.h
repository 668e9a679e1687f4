#pragma once
// Token buckets keyed by client (IP or user): `rate` requests per second with bursts
// of `burst`. In memory, per process; a bucket idle long enough is forgotten.

#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace keel::http {

class RateLimiter {
 public:
  RateLimiter(double rate, double burst, Clock* clock)
      : rate_(rate), burst_(burst), clock_(clock) {}
  // True when the request may go ahead; rate <= 0 means unlimited.
  bool Allow(const std::string& key);

 private:
  struct Bucket {
    double tokens;
    Millis at;
  };
  double rate_, burst_;
  Clock* clock_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  Millis last_prune_ = 0;
};

}  // namespace keel::http
