#include "engine/worker.h"

#include <spdlog/spdlog.h>

#include "common/metrics.h"
#include "engine/errors.h"
#include "engine/history_events.h"
#include "engine/payload.h"

namespace keel {

using persistence::TaskKind;
using persistence::TaskRow;

// ---- WorkflowCache ---------------------------------------------------------------

std::shared_ptr<WorkflowCache::Entry> WorkflowCache::Acquire(const std::string& run_id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = map_.find(run_id);
  if (it != map_.end()) {
    if (it->second.entry->busy) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second.pos);
    it->second.entry->busy = true;
    return it->second.entry;
  }
  auto e = std::make_shared<Entry>();
  e->busy = true;
  lru_.push_front(run_id);
  map_[run_id] = Slot{e, lru_.begin()};
  // Evict least recently used idle entries beyond capacity.
  auto victim = lru_.end();
  while (map_.size() > capacity_ && victim != lru_.begin()) {
    --victim;
    auto v = map_.find(*victim);
    if (v->second.entry->busy) continue;
    auto next = std::next(victim);
    map_.erase(v);
    lru_.erase(victim);
    victim = next;
  }
  return e;
}

void WorkflowCache::Release(const std::string& run_id, const std::shared_ptr<Entry>& e, bool keep) {
  std::lock_guard<std::mutex> l(mu_);
  e->busy = false;
  auto it = map_.find(run_id);
  if (map_.size() > capacity_) keep = false;  // over capacity: this one goes first
  if (!keep && it != map_.end() && it->second.entry == e) {
    lru_.erase(it->second.pos);
    map_.erase(it);
  }
  if (!keep) e->instance.reset();
}

size_t WorkflowCache::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return map_.size();
}

// ---- Workers -----------------------------------------------------------------------

Workers::Workers(HistoryService* history, Matcher* matcher, const Registry* registry,
                 WorkerOptions options)
    : history_(history),
      matcher_(matcher),
      registry_(registry),
      options_(std::move(options)),
      cache_(options_.cache_size) {}

Workers::~Workers() { Stop(); }

void Workers::Start() {
  if (!options_.workflow_queues.empty()) {
    int cap = options_.workflow_threads + options_.workflow_buffer;
    auto* pool = matcher_->AddPool(TaskKind::kWorkflow, options_.workflow_queues,
                                   options_.workflow_threads, cap, cap);
    for (int i = 0; i < options_.workflow_threads; ++i) {
      threads_.emplace_back([this, pool] { TaskLoop(pool, &Workers::ProcessWorkflowTask); });
    }
    threads_.emplace_back([this, pool] { PollLoop(pool); });
  }
  if (!options_.activity_queues.empty()) {
    auto* pool =
        matcher_->AddPool(TaskKind::kActivity, options_.activity_queues, options_.activity_threads,
                          options_.activity_threads * (1 + options_.activity_buffer_per_thread),
                          options_.activity_threads + options_.activity_buffer_max);
    for (int i = 0; i < options_.activity_threads; ++i) {
      threads_.emplace_back([this, pool] { TaskLoop(pool, &Workers::ProcessActivityTask); });
    }
    threads_.emplace_back([this, pool] { PollLoop(pool); });
  }
}

void Workers::Stop() {
  stopping_ = true;
  matcher_->Shutdown();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void Workers::RecordPollers(const Matcher::Pool& pool) {
  // A failed heartbeat (a locked or unreachable store) is repaired by the next one; the
  // poll that follows reports the store's trouble if it lasts.
  for (const auto& q : pool.queues) {
    (void)history_->store()->RecordPoller(q, pool.kind, history_->identity());
  }
}

void Workers::PollLoop(Matcher::Pool* pool) {
  auto heartbeat = std::chrono::steady_clock::time_point{};
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    if (now - heartbeat >= std::chrono::milliseconds(persistence::Store::kPollerHeartbeatMs)) {
      heartbeat = now;
      RecordPollers(*pool);
    }
    int n = matcher_->WaitAndReserve(pool, options_.poll_interval_ms, options_.poll_batch);
    if (n <= 0) continue;
    int left = n;
    bool full = false;
    for (const auto& q : pool->queues) {
      if (left <= 0) break;
      auto rows = history_->LeaseTasks(q, pool->kind, left);
      if (!rows.ok()) {
        spdlog::warn("poll {}: {}", q, rows.status().ToString());
        continue;
      }
      for (const auto& t : *rows) matcher_->Deliver(t);
      left -= static_cast<int>(rows->size());
      if (left == 0) full = true;
    }
    if (left > 0) matcher_->Release(pool->kind, *pool->queues.begin(), left);
    if (full) matcher_->Notify(pool->kind, *pool->queues.begin());  // maybe more waiting
  }
}

void Workers::TaskLoop(Matcher::Pool* pool, void (Workers::*process)(const persistence::TaskRow&)) {
  while (!stopping_) {
    auto task = matcher_->Take(pool, 500);
    if (!task) continue;
    auto t0 = std::chrono::steady_clock::now();
    (this->*process)(*task);
    matcher_->Done(
        pool,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
}

void Workers::FailWorkflowTask(const TaskRow& task, const Status& why) {
  spdlog::error("[wf={} run={}] workflow task failed: {}", task.workflow_id, task.run_id,
                why.ToString());
  proto::Failure f;
  f.set_type("WorkflowTaskFailed");
  f.set_code(why.reason());
  f.set_message(why.message());
  history_->FailWorkflowTask(task, f, [task](const Status& s) {
    if (!s.ok() && s.reason() != "stale_task") {
      spdlog::warn("[wf={} run={}] recording workflow task failure: {}", task.workflow_id,
                   task.run_id, s.ToString());
    }
  });
}

namespace {

// Engine metrics of workers (docs/operations.md lists them all).
Histogram& WorkflowTaskSeconds(const std::string& type) {
  return Metrics::Global().GetHistogram(
      "keel_workflow_task_seconds",
      "Workflow task latency: history read, replay, and the completing transaction.",
      {{"workflow_type", type}});
}
Histogram& ActivitySeconds(const std::string& type) {
  return Metrics::Global().GetHistogram("keel_activity_seconds",
                                        "Activity attempt duration, by activity type.",
                                        {{"activity_type", type}});
}
Counter& ActivityAttempts(const std::string& type, const char* outcome) {
  return Metrics::Global().GetCounter(
      "keel_activity_attempts_total",
      "Activity attempts run by this process, by activity type and outcome.",
      {{"activity_type", type}, {"outcome", outcome}});
}

}  // namespace

namespace {

// Applies to a cached instance the events its own workflow task completion appended
// (task started and completed, its command events), so the next task need not read
// them back. Stops before any input event: inputs are for the next task. Returns false
// when the instance must be dropped.
bool ApplyOwnCompletion(internal::WorkflowInstance& instance,
                        const std::vector<proto::HistoryEvent>& appended) {
  if (appended.empty() || appended.front().event_id() != instance.last_event_id() + 1) {
    return true;  // something came between: the next task reads from the store
  }
  std::vector<proto::HistoryEvent> own;
  for (const auto& e : appended) {
    if (IsInputEvent(e)) break;
    own.push_back(e);
  }
  try {
    auto r = instance.Apply(own);
    return r.ok() && r->empty();
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

// The events the task's creating transition appended, when they continue exactly where
// the instance stopped (at `from`); otherwise they are read back.
Result<std::vector<proto::HistoryEvent>> Workers::NewEvents(const TaskRow& task, int64_t from) {
  const bool attached =
      task.events && !task.events->empty() && task.events->front().event_id() == from;
  Metrics::Global()
      .GetCounter("keel_workflow_task_history_total",
                  "Where workflow tasks got their new events: handed over with the task "
                  "(attached) or read from the store.",
                  {{"source", attached ? "attached" : "store"}})
      .Inc();
  if (attached) return *task.events;
  return history_->store()->ReadHistory(task.run_id, from);
}

// A new instance of the run's workflow, from its whole history's first event.
Status Workers::Instantiate(WorkflowCache::Entry& e, const TaskRow& task,
                            const std::vector<proto::HistoryEvent>& events) {
  if (events.empty() || !events.front().has_workflow_execution_started()) {
    return Status::Corruption("history does not begin with a start event", "history_corrupt");
  }
  const auto& started = events.front().workflow_execution_started();
  const WorkflowDef* def = registry_->FindWorkflow(started.workflow_type());
  if (!def) {
    return Status::NotFound(
        "workflow type '" + started.workflow_type() + "' is not registered in this worker",
        internal::kReasonUnknownWorkflowType);
  }
  WorkflowInfo info{task.workflow_id, task.run_id, started.workflow_type(), started.task_queue()};
  e.instance = std::make_unique<internal::WorkflowInstance>(def, std::move(info));
  return Status::Ok();
}

void Workers::ProcessWorkflowTask(const TaskRow& task) {
  const auto began = std::chrono::steady_clock::now();
  auto entry = cache_.Acquire(task.run_id);
  std::shared_ptr<WorkflowCache::Entry> temp;
  if (!entry) {  // a stale task raced with a live one: work on a private copy
    temp = std::make_shared<WorkflowCache::Entry>();
  }
  WorkflowCache::Entry& e = entry ? *entry : *temp;
  auto release = [this, &task, entry](bool keep) {
    if (entry) cache_.Release(task.run_id, entry, keep);
  };
  int64_t from = e.instance ? e.instance->last_event_id() + 1 : 1;
  Result<std::vector<proto::HistoryEvent>> events = NewEvents(task, from);
  Status made = events.ok() && !e.instance ? Instantiate(e, task, *events) : events.status();
  if (!made.ok()) {
    release(false);
    FailWorkflowTask(task, made);
    return;
  }
  Result<std::vector<proto::Command>> commands = Status::Internal("not run");
  try {
    commands = e.instance->Apply(*events);
  } catch (const std::exception& x) {
    commands = Status::Internal(std::string("workflow code threw: ") + x.what(),
                                internal::kReasonWorkflowPanic);
  }
  if (!commands.ok()) {
    release(false);
    FailWorkflowTask(task, commands.status());
    return;
  }
  int64_t seen = e.instance->last_event_id();
  bool closed = e.instance->closed();
  Histogram* latency = &WorkflowTaskSeconds(e.instance->info().workflow_type);
  auto appended = std::make_shared<std::vector<proto::HistoryEvent>>();
  history_->CompleteWorkflowTask(
      task, seen, std::move(commands).value(),
      [this, task, entry, closed, latency, began, appended](const Status& s) {
        latency->Observe(SecondsSince(began));
        bool keep = s.ok() && !closed;
        if (keep && entry) keep = ApplyOwnCompletion(*entry->instance, *appended);
        if (!s.ok() && s.reason() != "stale_task" && s.reason() != "unhandled_events") {
          spdlog::warn("[wf={} run={}] completing workflow task: {}", task.workflow_id, task.run_id,
                       s.ToString());
        }
        if (entry) cache_.Release(task.run_id, entry, keep);
      },
      appended);
}

void Workers::ProcessActivityTask(const TaskRow& task) {
  proto::ActivityTaskInfo info;
  info.ParseFromString(task.info);
  auto log_done = [task](const Status& s) {
    if (!s.ok() && s.reason() != "stale_task") {
      spdlog::warn("[wf={} run={}] activity {} result not recorded: {}", task.workflow_id,
                   task.run_id, task.activity_id, s.ToString());
    }
  };
  proto::Failure failure;
  const ActivityDef* def = registry_->FindActivity(info.activity_type());
  if (!def) {
    failure.set_type("ActivityTypeNotRegistered");
    failure.set_message("activity type '" + info.activity_type() +
                        "' is not registered in this worker");
    history_->FailActivity(task, failure, log_done);
    return;
  }
  auto input = FromPayload(info.input());
  if (!input.ok()) {
    failure.set_type("MalformedInput");
    failure.set_message(input.status().message());
    failure.set_non_retryable(true);
    history_->FailActivity(task, failure, log_done);
    return;
  }
  ActivityInfo ai;
  ai.workflow_id = task.workflow_id;
  ai.run_id = task.run_id;
  ai.activity_id = task.activity_id;
  ai.activity_type = info.activity_type();
  ai.task_queue = task.queue;
  ai.attempt = task.attempt;
  if (info.has_heartbeat_details()) {
    auto d = FromPayload(info.heartbeat_details());
    if (d.ok()) ai.heartbeat_details = std::move(d).value();
  }
  ActivityContext ctx(
      std::move(ai),
      [this, task](const json::value& details) {
        Status s = history_->HeartbeatActivity(task, details);
        if (s.reason() == "activity_cancelled") throw CanceledError(s.message());
        if (!s.ok()) {
          throw ApplicationError("HeartbeatFailed", s.message());
        }
      },
      &stopping_);
  const auto began = std::chrono::steady_clock::now();
  auto observe = [&](const char* outcome) {
    ActivitySeconds(info.activity_type()).Observe(SecondsSince(began));
    ActivityAttempts(info.activity_type(), outcome).Inc();
  };
  try {
    json::value result = def->fn(ctx, *input);
    observe("completed");
    history_->CompleteActivity(task, result, log_done);
    return;
  } catch (const ApplicationError& a) {
    failure.set_type(a.type());
    failure.set_message(a.what());
    failure.set_non_retryable(a.non_retryable());
  } catch (const CanceledError& x) {
    failure.set_type("Canceled");
    failure.set_message(x.what());
    failure.set_non_retryable(true);
  } catch (const std::exception& x) {
    failure.set_type("Exception");
    failure.set_message(x.what());
  }
  observe("failed");
  history_->FailActivity(task, failure, log_done);
}

}  // namespace keel
