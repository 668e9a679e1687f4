#pragma once
// The admission gate of hot SKUs (flash sales): a virtual queue per SKU, in memory in
// each API process. Checkouts of a hot SKU are admitted at `per_s` a second (a token
// bucket holding up to `burst`), first come, first served: a buyer who finds others
// waiting, or no token, takes the next place in the queue and is told to come back
// (429 with Retry-After and the place). When they retry, the first `tokens` places of
// the queue are admitted, in order; the others learn their new place. Nobody waits on
// a thread. A place not asked about for `forget_ms` is given up, so a buyer who left
// does not hold the line. With several API processes each keeps its own queue, and
// the SKU's rate is their sum.

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace keel::http {

struct AdmissionOptions {
  double per_s = 100;  // admissions per second per hot SKU (0: no gate)
  double burst = 100;  // admitted at once after a quiet spell
  size_t max_queue = 10'000;
  Millis forget_ms = 60'000;
};

struct Admission {
  bool admitted = false;
  bool full = false;          // the queue is full: not even a place
  int64_t place = 0;          // 1 is next, when not admitted
  Millis retry_after_ms = 0;  // when not admitted
};

class AdmissionGate {
 public:
  explicit AdmissionGate(AdmissionOptions o = {}) : o_(o) {}
  // Whether `buyer` may check out `sku` now.
  Admission Enter(const std::string& sku, const std::string& buyer, Millis now);

 private:
  struct Place {
    std::string buyer;
    Millis seen = 0;
    bool gone = false;  // given up, or admitted out of the queue
  };
  struct Queue {
    double tokens = 0;
    Millis refilled_at = 0;
    std::deque<Place> places;
    std::unordered_map<std::string, size_t> index;  // buyer -> absolute place number
    size_t front = 0;                               // absolute number of places.front()
  };
  void Refill(Queue& q, Millis now) const;
  void Trim(Queue& q, Millis now) const;
  AdmissionOptions o_;
  std::mutex mu_;
  std::unordered_map<std::string, Queue> queues_;
};

}  // namespace keel::http
