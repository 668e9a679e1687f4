#include "http/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace keel::http {

void RateLimiter::Prune(Millis now) {
  // Forget buckets that have refilled completely: they hold nothing a new one wouldn't.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = (now - it->second.at) * limit_.rate / 1000.0 >= limit_.burst ? buckets_.erase(it)
                                                                      : std::next(it);
  }
  last_prune_ = now;
}

Millis RateLimiter::Admit(const std::string& key) {
  if (limit_.rate <= 0) return 0;
  const double burst = std::max(1.0, limit_.burst);
  Millis now = clock_->Now();
  std::lock_guard<std::mutex> l(mu_);
  if (now - last_prune_ > 10'000 || buckets_.size() >= kMaxBuckets) Prune(now);
  if (buckets_.size() >= kMaxBuckets) {
    // Every bucket is busy: too many clients at once to tell apart. Refuse new ones
    // briefly rather than forget the ones being limited.
    if (buckets_.find(key) == buckets_.end()) return 1000;
  }
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(burst, b.tokens + (now - b.at) * limit_.rate / 1000.0);
  b.at = now;
  if (b.tokens < 1.0) {
    return std::max<Millis>(
        1, static_cast<Millis>(std::ceil((1.0 - b.tokens) * 1000.0 / limit_.rate)));
  }
  b.tokens -= 1.0;
  return 0;
}

Millis LoginBackoff::Wait(const std::string& account) {
  const Millis now = clock_->Now();
  std::lock_guard<std::mutex> l(mu_);
  auto it = entries_.find(account);
  if (it == entries_.end() || it->second.until <= now) return 0;
  return it->second.until - now;
}

void LoginBackoff::Failed(const std::string& account) {
  const Millis now = clock_->Now();
  std::lock_guard<std::mutex> l(mu_);
  if (now - last_prune_ > 60'000) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = now - it->second.last > 3'600'000 ? entries_.erase(it) : std::next(it);
    }
    last_prune_ = now;
  }
  if (entries_.size() >= RateLimiter::kMaxBuckets && !entries_.count(account)) return;
  Entry& e = entries_[account];
  e.last = now;
  if (++e.failures < o_.free_failures) return;
  const int doublings = std::min(e.failures - o_.free_failures, 30);
  e.until = now + std::min<Millis>(o_.max_ms, o_.base_ms << doublings);
}

void LoginBackoff::Succeeded(const std::string& account) {
  std::lock_guard<std::mutex> l(mu_);
  entries_.erase(account);
}

}  // namespace keel::http
