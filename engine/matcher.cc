#include "engine/matcher.h"

#include <algorithm>
#include <chrono>

namespace keel {

using persistence::TaskKind;
using persistence::TaskRow;

Matcher::Pool* Matcher::AddPool(TaskKind kind, std::set<std::string> queues, int threads,
                                int min_capacity, int max_capacity) {
  std::lock_guard<std::mutex> l(mu_);
  auto p = std::make_unique<Pool>();
  p->kind = kind;
  p->threads = std::max(1, threads);
  p->min_capacity = std::max(p->threads, min_capacity);
  p->max_capacity = std::max(p->min_capacity, max_capacity);
  p->capacity = p->min_capacity;
  p->queues = std::move(queues);
  pools_.push_back(std::move(p));
  return pools_.back().get();
}

Matcher::Pool* Matcher::Find(TaskKind kind, const std::string& queue) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& p : pools_) {
    if (p->kind == kind && p->queues.count(queue)) return p.get();
  }
  return nullptr;
}

bool Matcher::TryReserve(TaskKind kind, const std::string& queue) {
  Pool* p = Find(kind, queue);
  if (!p) return false;
  std::lock_guard<std::mutex> l(p->mu);
  if (shutting_down() || p->FreeSlotsLocked() <= 0) return false;
  ++p->reserved;
  return true;
}

void Matcher::Release(TaskKind kind, const std::string& queue, int n) {
  Pool* p = Find(kind, queue);
  if (!p || n <= 0) return;
  {
    std::lock_guard<std::mutex> l(p->mu);
    p->reserved -= n;
  }
  p->poller_cv.notify_one();
}

void Matcher::Deliver(const TaskRow& task) {
  Pool* p = Find(task.kind, task.queue);
  if (!p) return;
  {
    std::lock_guard<std::mutex> l(p->mu);
    --p->reserved;
    p->ready.push_back(task);
  }
  p->workers_cv.notify_one();
}

void Matcher::Notify(TaskKind kind, const std::string& queue) {
  Pool* p = Find(kind, queue);
  if (!p) return;
  {
    std::lock_guard<std::mutex> l(p->mu);
    p->poke = true;
  }
  p->poller_cv.notify_one();
}

void Matcher::NotifyAll() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& p : pools_) {
    {
      std::lock_guard<std::mutex> pl(p->mu);
      p->poke = true;
    }
    p->poller_cv.notify_one();
  }
}

std::optional<TaskRow> Matcher::Take(Pool* p, int max_wait_ms) {
  std::unique_lock<std::mutex> l(p->mu);
  p->workers_cv.wait_for(l, std::chrono::milliseconds(max_wait_ms),
                         [&] { return !p->ready.empty() || shutting_down(); });
  if (p->ready.empty() || shutting_down()) return std::nullopt;
  TaskRow t = std::move(p->ready.front());
  p->ready.pop_front();
  ++p->busy;
  return t;
}

void Matcher::Done(Pool* p, double run_ms) {
  bool was_full;
  {
    std::lock_guard<std::mutex> l(p->mu);
    was_full = p->FreeSlotsLocked() <= 0;
    --p->busy;
    p->avg_run_ms = p->avg_run_ms < 0 ? run_ms : 0.9 * p->avg_run_ms + 0.1 * run_ms;
    double room = p->threads + p->threads * kBufferWaitMs / std::max(p->avg_run_ms, 0.001);
    p->capacity = static_cast<int>(std::clamp(room, static_cast<double>(p->min_capacity),
                                              static_cast<double>(p->max_capacity)));
  }
  if (was_full) p->poller_cv.notify_one();  // room again: tasks may wait in the store
}

int Matcher::WaitAndReserve(Pool* p, int max_wait_ms, int max_reserve) {
  std::unique_lock<std::mutex> l(p->mu);
  p->poller_cv.wait_for(l, std::chrono::milliseconds(max_wait_ms),
                        [&] { return shutting_down() || (p->poke && p->FreeSlotsLocked() > 0); });
  if (shutting_down()) return 0;
  p->poke = false;
  int n = std::min(p->FreeSlotsLocked(), max_reserve);
  if (n <= 0) return 0;
  p->reserved += n;
  return n;
}

bool Matcher::Idle() {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& p : pools_) {
    std::lock_guard<std::mutex> pl(p->mu);
    if (p->busy > 0 || !p->ready.empty() || p->reserved > 0) return false;
  }
  return true;
}

void Matcher::Shutdown() {
  std::vector<Pool*> ps;
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
    for (auto& p : pools_) ps.push_back(p.get());
  }
  for (Pool* p : ps) {
    { std::lock_guard<std::mutex> pl(p->mu); }
    p->workers_cv.notify_all();
    p->poller_cv.notify_all();
  }
}

bool Matcher::shutting_down() const { return shutdown_.load(); }

}  // namespace keel
