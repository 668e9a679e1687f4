#include "http/rate_limiter.h"

#include <algorithm>

namespace keel::http {

bool RateLimiter::Allow(const std::string& key) {
  if (rate_ <= 0) return true;
  Millis now = clock_->Now();
  std::lock_guard<std::mutex> l(mu_);
  if (now - last_prune_ > 60'000) {
    // Forget buckets that have refilled completely.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      it = (now - it->second.at) * rate_ / 1000.0 >= burst_ ? buckets_.erase(it) : std::next(it);
    }
    last_prune_ = now;
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst_, b.tokens + (now - b.at) * rate_ / 1000.0);
  b.at = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

}  // namespace keel::http
