#pragma once
// In-process dispatch of tasks to this process's worker threads.
//
// A Pool is a set of worker threads serving some task queues for one task kind.
// A transition that creates a task may reserve an idle thread of a pool
// (TryReserve) and write the task already leased to this process; after the commit
// the task is handed over (Deliver) without a store round trip. Tasks that found no
// idle thread wait in the store; the pool's poller leases them when threads free up,
// woken at once by Notify() for tasks made in this process, and by its poll
// interval for tasks made by other processes. Thread-safe.

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "persistence/store.h"

namespace keel {

class Matcher {
 public:
  struct Pool {
    persistence::TaskKind kind;
    std::set<std::string> queues;
    int capacity = 1;  // threads plus a bounded buffer of leased tasks
    int threads = 1;
    int min_capacity = 1, max_capacity = 1;
    double avg_run_ms = -1;  // how long a task has held a thread lately; < 0: not known

    std::mutex mu;
    std::condition_variable workers_cv;
    std::condition_variable poller_cv;
    int reserved = 0;  // slots promised to tasks not yet delivered
    int busy = 0;      // threads running a task
    bool poke = false;
    std::deque<persistence::TaskRow> ready;
    int FreeSlotsLocked() const {
      return capacity - busy - reserved - static_cast<int>(ready.size());
    }
  };

  // How many tasks a pool may hold leased at once (running or waiting in memory) is
  // between `min_capacity` and `max_capacity`: within those, as many as `threads` can
  // start within kBufferWaitMs at the pace its tasks have run lately. A buffered
  // task's timeouts run from its lease, so slow tasks get a small buffer, and quick
  // ones a large one (fewer tasks left in the store for a poll).
  static constexpr double kBufferWaitMs = 50;
  Pool* AddPool(persistence::TaskKind kind, std::set<std::string> queues, int threads,
                int min_capacity, int max_capacity);

  // Transition side.
  bool TryReserve(persistence::TaskKind kind, const std::string& queue);
  void Release(persistence::TaskKind kind, const std::string& queue, int n = 1);
  void Deliver(const persistence::TaskRow& task);
  void Notify(persistence::TaskKind kind, const std::string& queue);
  void NotifyAll();

  // Worker side: blocks up to max_wait_ms for a task; nullopt on timeout or shutdown.
  std::optional<persistence::TaskRow> Take(Pool* pool, int max_wait_ms);
  void Done(Pool* pool, double run_ms);  // the task taken is finished, after run_ms
  // Poller side: waits for a poke or max_wait_ms while the pool has free threads,
  // then reserves them all and returns how many (0 on shutdown or timeout without room).
  int WaitAndReserve(Pool* pool, int max_wait_ms, int max_reserve);

  // True when no pool has a task in hand or waiting in memory.
  bool Idle();
  void Shutdown();
  bool shutting_down() const;

 private:
  Pool* Find(persistence::TaskKind kind, const std::string& queue);
  std::vector<std::unique_ptr<Pool>> pools_;
  mutable std::mutex mu_;
  std::atomic<bool> shutdown_{false};
};

}  // namespace keel
