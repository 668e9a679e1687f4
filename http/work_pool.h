#pragma once
// A few threads for work too slow for an I/O thread (argon2id password hashing takes
// tens of milliseconds and 64 MiB): a fixed number of threads and a bounded queue.
// Offload turns a job into a Deferred reply, so the I/O thread moves on at once;
// with the queue full the answer is 503 busy with Retry-After. Thread-safe.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "http/server.h"

namespace keel::http {

class WorkPool {
 public:
  WorkPool(int threads, size_t max_queue);
  ~WorkPool();
  // `job` runs on a pool thread; it must copy what it needs from the request.
  Reply Offload(std::function<Response()> job);
  // Finishes queued jobs, then joins the threads. Jobs offered later answer 503.
  void Stop();

 private:
  void Loop();
  size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t reserved_ = 0;  // offloaded, not yet started by the server
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace keel::http
