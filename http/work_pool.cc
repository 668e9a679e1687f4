#include "http/work_pool.h"

#include <spdlog/spdlog.h>

#include "http/router.h"

namespace keel::http {

WorkPool::WorkPool(int threads, size_t max_queue) : max_queue_(max_queue) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
}

WorkPool::~WorkPool() { Stop(); }

void WorkPool::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

Reply WorkPool::Offload(std::function<Response()> job) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return ErrorResponse(503, "stopping", "the server is stopping");
    if (queue_.size() + reserved_ >= max_queue_) {
      Response busy = ErrorResponse(503, "busy", "the server is busy; retry shortly");
      busy.set(bhttp::field::retry_after, "1");
      return busy;
    }
    ++reserved_;
  }
  return Deferred{[this, job = std::move(job)](Respond respond) mutable {
    std::unique_lock<std::mutex> l(mu_);
    --reserved_;
    if (stopping_) {
      l.unlock();
      respond(ErrorResponse(503, "stopping", "the server is stopping"));
      return;
    }
    queue_.push_back([job = std::move(job), respond = std::move(respond)] {
      Response res;
      try {
        res = job();
      } catch (const std::exception& e) {
        spdlog::error("offloaded request failed: {}", e.what());
        res = ErrorResponse(500, "internal", "internal error");
      }
      respond(std::move(res));
    });
    cv_.notify_one();
  }};
}

void WorkPool::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to do
    auto job = std::move(queue_.front());
    queue_.pop_front();
    l.unlock();
    job();
    l.lock();
  }
}

}  // namespace keel::http
