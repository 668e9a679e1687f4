#pragma once
// Worker threads of one process: workflow task processors (with the sticky cache),
// activity executors, and one poller per pool that leases waiting tasks from the
// store when threads are free.

#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/history_service.h"
#include "engine/matcher.h"
#include "engine/registry.h"
#include "engine/workflow_instance.h"

namespace keel {

// Recently used workflow instances, so a new workflow task applies only the new
// events instead of replaying the whole history. LRU; thread-safe.
class WorkflowCache {
 public:
  struct Entry {
    std::unique_ptr<internal::WorkflowInstance> instance;
    bool busy = false;
  };
  explicit WorkflowCache(size_t capacity) : capacity_(capacity) {}
  // The run's entry marked busy (created empty if absent), or nullptr when another
  // thread is using it.
  std::shared_ptr<Entry> Acquire(const std::string& run_id);
  // Ends the use; `keep` false drops the entry.
  void Release(const std::string& run_id, const std::shared_ptr<Entry>& e, bool keep);
  size_t size() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::string> lru_;  // front = most recent
  struct Slot {
    std::shared_ptr<Entry> entry;
    std::list<std::string>::iterator pos;
  };
  std::unordered_map<std::string, Slot> map_;
};

struct WorkerOptions {
  std::set<std::string> workflow_queues;  // empty: no workflow threads
  std::set<std::string> activity_queues;  // empty: no activity threads
  int workflow_threads = 2;
  int activity_threads = 16;
  size_t cache_size = 5000;
  int poll_interval_ms = 200;
  int poll_batch = 64;
  // Leased tasks a pool may hold beyond its threads. Workflow tasks take
  // microseconds, so their buffer is large. Activities may be slow: theirs is
  // activity_buffer_per_thread per thread, and grows up to activity_buffer_max while
  // they run quickly (Matcher::kBufferWaitMs).
  int workflow_buffer = 256;
  int activity_buffer_per_thread = 1;
  int activity_buffer_max = 256;
};

class Workers {
 public:
  Workers(HistoryService* history, Matcher* matcher, const Registry* registry,
          WorkerOptions options);
  ~Workers();
  void Start();
  // Stops taking tasks and joins threads; tasks in hand finish first.
  void Stop();
  WorkflowCache& cache() { return cache_; }

 private:
  // Takes tasks from `pool` and runs `process` on each until Stop().
  void TaskLoop(Matcher::Pool* pool, void (Workers::*process)(const persistence::TaskRow&));
  void PollLoop(Matcher::Pool* pool);
  // Tells the store this process polls `pool`'s queues (Store::RecordPoller).
  void RecordPollers(const Matcher::Pool& pool);
  void ProcessWorkflowTask(const persistence::TaskRow& task);
  Result<std::vector<proto::HistoryEvent>> NewEvents(const persistence::TaskRow& task,
                                                     int64_t from);
  Status Instantiate(WorkflowCache::Entry& e, const persistence::TaskRow& task,
                     const std::vector<proto::HistoryEvent>& events);
  void ProcessActivityTask(const persistence::TaskRow& task);
  void FailWorkflowTask(const persistence::TaskRow& task, const Status& why);

  HistoryService* history_;
  Matcher* matcher_;
  const Registry* registry_;
  WorkerOptions options_;
  WorkflowCache cache_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace keel
