#include "http/admission.h"

#include <algorithm>
#include <cmath>

namespace keel::http {

void AdmissionGate::Refill(Queue& q, Millis now) const {
  if (q.refilled_at == 0) {
    q.tokens = o_.burst;
  } else if (now > q.refilled_at) {
    q.tokens =
        std::min(o_.burst, q.tokens + o_.per_s * static_cast<double>(now - q.refilled_at) / 1000.0);
  }
  q.refilled_at = std::max(q.refilled_at, now);
}

// Drops places at the front that were admitted or not asked about for forget_ms.
void AdmissionGate::Trim(Queue& q, Millis now) const {
  while (!q.places.empty()) {
    Place& p = q.places.front();
    if (!p.gone && now - p.seen < o_.forget_ms) break;
    if (!p.gone) q.index.erase(p.buyer);
    q.places.pop_front();
    ++q.front;
  }
}

Admission AdmissionGate::Enter(const std::string& sku, const std::string& buyer, Millis now) {
  if (o_.per_s <= 0) return {true};
  std::lock_guard<std::mutex> l(mu_);
  Queue& q = queues_[sku];
  Refill(q, now);
  Trim(q, now);
  auto it = q.index.find(buyer);
  if (it == q.index.end()) {
    if (q.places.empty() && q.tokens >= 1) {  // nobody waits: straight in
      q.tokens -= 1;
      return {true};
    }
    if (q.places.size() >= o_.max_queue) return {false, true, 0, 1000};
    it = q.index.emplace(buyer, q.front + q.places.size()).first;
    q.places.push_back({buyer, now, false});
  }
  // Places before this one that still wait (given-up ones in between do not count).
  const size_t at = it->second - q.front;
  int64_t ahead = 0;
  for (size_t i = 0; i < at; ++i) ahead += q.places[i].gone ? 0 : 1;
  q.places[at].seen = now;
  if (static_cast<double>(ahead) + 1 <= q.tokens) {  // within this batch
    q.tokens -= 1;
    q.places[at].gone = true;
    q.index.erase(it);
    Trim(q, now);
    return {true};
  }
  const double wait_s = (static_cast<double>(ahead) + 1 - q.tokens) / o_.per_s;
  return {false, false, ahead + 1, std::max<Millis>(1000, std::llround(wait_s * 1000))};
}

}  // namespace keel::http
