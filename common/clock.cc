#include "common/clock.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace keel {

std::string FormatUtc(Millis ms) {
  if (ms <= 0) return "-";
  std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms % 1000));
  return out;
}

Millis SystemClock::Now() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SystemClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            Millis deadline, Millis max_wait, const std::function<bool()>& wake) {
  Millis wait = std::clamp<Millis>(deadline - Now(), 0, max_wait);
  if (wait <= 0 || wake()) return;
  cv.wait_for(lock, std::chrono::milliseconds(wait), wake);
}

SystemClock* SystemClock::Default() {
  static SystemClock clock;
  return &clock;
}

void FakeClock::AdvanceTo(Millis t) {
  Millis cur = now_.load();
  while (cur < t && !now_.compare_exchange_weak(cur, t)) {
  }
}

void FakeClock::WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          Millis deadline, Millis max_wait, const std::function<bool()>& wake) {
  if (Now() >= deadline || wake()) return;
  // Fake time cannot be waited on; poll in short wall-clock slices.
  cv.wait_for(lock, std::chrono::milliseconds(std::min<Millis>(max_wait, 5)), wake);
}

}  // namespace keel
