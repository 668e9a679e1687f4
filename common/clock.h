#pragma once
// Every read of time goes through a Clock, so tests can skip time (LevelDB's Env).
// Times are unix-epoch milliseconds; durations are milliseconds.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace keel {

using Millis = int64_t;

// "2026-11-22T10:00:00.123Z"; "-" for 0 or less.
std::string FormatUtc(Millis ms);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis Now() const = 0;
  // Blocks until Now() >= deadline, `wake` returns true, or wall time `max_wait`
  // has passed, whichever is first. `wake` is checked under `mu`, which the caller
  // holds; `cv` is what producers notify. Thread-safe.
  virtual void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         Millis deadline, Millis max_wait, const std::function<bool()>& wake) = 0;
};

// Wall-clock time.
class SystemClock final : public Clock {
 public:
  Millis Now() const override;
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Millis deadline,
                 Millis max_wait, const std::function<bool()>& wake) override;
  static SystemClock* Default();
};

// A clock that only moves when told to. Waiters are bounded by wall time (max_wait),
// so a component waiting on a fake deadline still re-checks regularly.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Millis start) : now_(start) {}
  Millis Now() const override { return now_.load(); }
  void Advance(Millis d) { now_.fetch_add(d); }
  void AdvanceTo(Millis t);
  void WaitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv, Millis deadline,
                 Millis max_wait, const std::function<bool()>& wake) override;

 private:
  std::atomic<Millis> now_;
};

}  // namespace keel
