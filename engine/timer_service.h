#pragma once
// Fires durable timers and enforces task deadlines (lease ends, activity
// timeouts). Every worker process runs one; the transitions they call are
// idempotent (a timer fires once: the first transaction deletes it), so several
// processes may race safely. A timer fires at most about one poll interval late,
// or at once when it was created in this process. It also applies retention: every
// kSweepInterval it deletes runs closed longer than `retention` ago (0: never). At
// start and every kReapInterval it takes back the tasks leased by processes that died
// on this machine (engine/lease_owners.h), so their work moves on without waiting for
// the leases to run out: a worker restarted after a crash resumes its sagas at once.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "engine/history_service.h"
#include "engine/matcher.h"

namespace keel {

class TimerService {
 public:
  static constexpr Millis kSweepInterval = 60'000;
  static constexpr Millis kReapInterval = 5'000;
  TimerService(HistoryService* history, Matcher* matcher, Millis poll_interval,
               Millis retention = 0);
  ~TimerService();
  void Start();
  void Stop();
  // Something is due at `t`: wake earlier than planned if needed.
  void Wake(Millis t);

 private:
  void Loop();
  void SweepIfDue(Millis now);
  void ReapIfDue(Millis now);
  HistoryService* history_;
  Matcher* matcher_;
  Clock* clock_;
  Millis poll_interval_;
  Millis retention_;
  Millis last_sweep_ = 0;
  Millis last_reap_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  Millis wake_at_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace keel
