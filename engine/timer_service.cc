#include "engine/timer_service.h"

#include <spdlog/spdlog.h>

#include <latch>
#include <map>
#include <vector>

#include "engine/lease_owners.h"

namespace keel {

TimerService::TimerService(HistoryService* history, Matcher* matcher, Millis poll_interval,
                           Millis retention)
    : history_(history),
      matcher_(matcher),
      clock_(history->store()->clock()),
      poll_interval_(poll_interval),
      retention_(retention) {}

void TimerService::SweepIfDue(Millis now) {
  if (retention_ <= 0 || now - last_sweep_ < kSweepInterval) return;
  last_sweep_ = now;
  for (int batch = 0; batch < 20; ++batch) {  // at most 10,000 runs per sweep
    auto n = history_->DeleteExpiredRuns(retention_, 500);
    if (!n.ok()) {
      spdlog::warn("retention sweep: {}", n.status().ToString());
      return;
    }
    if (*n > 0) spdlog::info("retention: deleted {} closed runs", *n);
    if (*n < 500) return;
  }
}

void TimerService::ReapIfDue(Millis now) {
  if (last_reap_ != 0 && now - last_reap_ < kReapInterval) return;
  last_reap_ = now;
  auto leased = history_->store()->ListLeasedTasks(10'000);
  if (!leased.ok()) {
    spdlog::warn("looking for leases of exited workers: {}", leased.status().ToString());
    return;
  }
  std::map<std::string, bool> gone;  // by owner, asked once per pass
  std::vector<persistence::TaskRow> lost;
  for (auto& t : *leased) {
    auto it = gone.try_emplace(t.lease_owner, false);
    if (it.second) it.first->second = LeaseOwnerIsGone(t.lease_owner);
    if (it.first->second) lost.push_back(std::move(t));
  }
  if (lost.empty()) return;
  for (const auto& [owner, dead] : gone) {
    if (dead) spdlog::info("worker {} has exited: taking back the tasks it leased", owner);
  }
  std::latch all(static_cast<std::ptrdiff_t>(lost.size()));
  for (const auto& t : lost) {
    history_->HandleLostLease(t, [&all, wf = t.workflow_id](const Status& s) {
      if (!s.ok()) spdlog::warn("[wf={}] taking back a lost lease: {}", wf, s.ToString());
      all.count_down();
    });
  }
  all.wait();
  if (matcher_) matcher_->NotifyAll();
}

TimerService::~TimerService() { Stop(); }

void TimerService::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void TimerService::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TimerService::Wake(Millis t) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (wake_at_ != 0 && wake_at_ <= t) return;
    wake_at_ = t;
  }
  cv_.notify_one();
}

void TimerService::Loop() {
  persistence::Store* store = history_->store();
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
      wake_at_ = 0;
    }
    Millis now = clock_->Now();
    SweepIfDue(now);
    ReapIfDue(now);
    auto timers = store->DueTimers(now, 256);
    auto tasks = store->DueTaskDeadlines(now, 256);
    if (!timers.ok() || !tasks.ok()) {
      spdlog::warn("timer service: {}",
                   (!timers.ok() ? timers.status() : tasks.status()).ToString());
    } else if (!timers->empty() || !tasks->empty()) {
      std::latch all(static_cast<std::ptrdiff_t>(timers->size() + tasks->size()));
      auto done = [&all](std::string wf, std::string run, const char* what) {
        return [&all, wf = std::move(wf), run = std::move(run), what](const Status& s) {
          if (!s.ok()) spdlog::warn("[wf={} run={}] {}: {}", wf, run, what, s.ToString());
          all.count_down();
        };
      };
      for (const auto& t : *timers) {
        history_->FireTimer(t, done(t.workflow_id, t.run_id, "firing a timer"));
      }
      for (const auto& t : *tasks) {
        history_->HandleTaskDeadline(t.id, done(t.workflow_id, t.run_id, "task deadline"));
      }
      all.wait();
      if (matcher_) matcher_->NotifyAll();
      continue;
    }
    if (matcher_) matcher_->NotifyAll();  // delayed tasks may have become visible
    auto next = store->NextWakeTime();
    Millis target = now + poll_interval_;
    if (next.ok() && next->has_value()) target = std::min(target, **next);
    std::unique_lock<std::mutex> l(mu_);
    if (wake_at_ != 0) target = std::min(target, wake_at_);
    clock_->WaitUntil(l, cv_, target, poll_interval_,
                      [&] { return stop_ || (wake_at_ != 0 && wake_at_ < target); });
  }
}

}  // namespace keel
