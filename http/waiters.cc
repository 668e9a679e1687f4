#include "http/waiters.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "http/router.h"

namespace keel::http {

Waiters::Waiters(WaitersOptions options) : o_(options), thread_([this] { Loop(); }) {}

Waiters::~Waiters() {
  Stop();
  if (thread_.joinable()) thread_.join();
}

size_t Waiters::parked() const {
  std::lock_guard<std::mutex> l(mu_);
  return waiters_.size() + reserved_;
}

Reply Waiters::Park(std::vector<std::string> keys, const std::string& owner, Millis wait_ms,
                    Check check) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (static_cast<int>(waiters_.size()) + reserved_ >= o_.max_total) {
      return TooManyRequests(1000, "too many requests are waiting on this server; retry shortly",
                             "too_many_waiters");
    }
    int& mine = per_owner_[owner];
    if (mine >= o_.max_per_owner) {
      return TooManyRequests(
          1000,
          "you have " + std::to_string(mine) + " requests waiting already; let one finish first",
          "too_many_waiters");
    }
    ++mine;
    ++reserved_;
  }
  return Deferred{[this, keys = std::move(keys), owner, wait_ms,
                   check = std::move(check)](Respond respond) mutable {
    std::unique_lock<std::mutex> l(mu_);
    --reserved_;
    if (stopping_) {
      if (--per_owner_[owner] <= 0) per_owner_.erase(owner);
      l.unlock();
      auto res = check(true);
      respond(res ? std::move(*res) : ErrorResponse(503, "stopping", "the server is stopping"));
      return;
    }
    const uint64_t id = next_id_++;
    const auto now = Clock::now();
    for (const auto& k : keys) by_key_.emplace(k, id);
    waiters_.emplace(id, Waiter{std::move(keys), owner, now + std::chrono::milliseconds(wait_ms),
                                now, o_.first_poll_ms, std::move(check), std::move(respond)});
    added_ = true;
    cv_.notify_one();
  }};
}

void Waiters::Notify(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  if (by_key_.find(key) == by_key_.end()) return;
  notified_.insert(key);
  cv_.notify_one();
}

void Waiters::Stop() {
  std::lock_guard<std::mutex> l(mu_);
  stopping_ = true;
  cv_.notify_one();
}

void Waiters::Forget(uint64_t id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  for (const auto& k : it->second.keys) {
    auto range = by_key_.equal_range(k);
    for (auto i = range.first; i != range.second; ++i) {
      if (i->second == id) {
        by_key_.erase(i);
        break;
      }
    }
  }
  if (--per_owner_[it->second.owner] <= 0) per_owner_.erase(it->second.owner);
  waiters_.erase(it);
}

void Waiters::Loop() {
  struct Due {
    uint64_t id;
    bool final;
    Check check;
  };
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    // Sleep until the earliest check, a notification, or a stop.
    auto wake = Clock::now() + std::chrono::seconds(1);
    for (const auto& [id, w] : waiters_) wake = std::min({wake, w.next_check, w.deadline});
    cv_.wait_until(l, wake, [&] { return stopping_ || added_ || !notified_.empty(); });
    added_ = false;
    const auto now = Clock::now();
    std::vector<Due> due;
    for (auto& [id, w] : waiters_) {
      bool hit = stopping_ || now >= w.next_check || now >= w.deadline;
      for (size_t i = 0; !hit && i < w.keys.size(); ++i) hit = notified_.count(w.keys[i]) > 0;
      if (hit) due.push_back({id, stopping_ || now >= w.deadline, w.check});
    }
    notified_.clear();
    if (due.empty() && stopping_) return;
    l.unlock();
    std::vector<std::pair<uint64_t, std::optional<Response>>> answers;
    for (auto& d : due) {
      std::optional<Response> res;
      try {
        res = d.check(d.final);
      } catch (const std::exception& e) {
        spdlog::error("wait check failed: {}", e.what());
        res = ErrorResponse(500, "internal", "internal error");
      }
      if (!res && d.final) res = ErrorResponse(503, "stopping", "the server is stopping");
      answers.emplace_back(d.id, std::move(res));
    }
    l.lock();
    const auto after = Clock::now();
    for (auto& [id, res] : answers) {
      auto it = waiters_.find(id);
      if (it == waiters_.end()) continue;
      Waiter& w = it->second;
      if (res) {
        Respond respond = std::move(w.respond);
        Forget(id);
        respond(std::move(*res));  // posts to the connection's strand; never blocks
        continue;
      }
      w.next_check = std::min(w.deadline, after + std::chrono::milliseconds(w.interval));
      w.interval = std::min(o_.max_poll_ms, w.interval * 2);
    }
  }
}

}  // namespace keel::http
