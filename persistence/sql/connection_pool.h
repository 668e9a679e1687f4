#pragma once
// A fixed set of connections lent one at a time: Lease blocks until one is free and
// returns it when destroyed. Thread-safe. Used by both SqlDatabase backends.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace keel::persistence {

template <typename Conn>
class ConnectionPool {
 public:
  void Add(std::unique_ptr<Conn> c) {
    std::lock_guard<std::mutex> l(mu_);
    free_.push_back(c.get());
    all_.push_back(std::move(c));
  }

  class Lease {
   public:
    explicit Lease(ConnectionPool& pool) : pool_(pool) {
      std::unique_lock<std::mutex> l(pool_.mu_);
      pool_.cv_.wait(l, [&] { return !pool_.free_.empty(); });
      conn_ = pool_.free_.back();
      pool_.free_.pop_back();
    }
    ~Lease() {
      std::lock_guard<std::mutex> l(pool_.mu_);
      pool_.free_.push_back(conn_);
      pool_.cv_.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Conn* operator->() const { return conn_; }
    Conn* get() const { return conn_; }

   private:
    ConnectionPool& pool_;
    Conn* conn_;
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> all_;
  std::vector<Conn*> free_;
};

}  // namespace keel::persistence
