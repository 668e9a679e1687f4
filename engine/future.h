#pragma once
// Deterministic futures for workflow code. Single-threaded: everything here runs on
// the thread executing one workflow activation. A resolved future never resumes its
// waiters inline; it hands them to the activation's ready queue, so the order in
// which code runs is the order in which history resolved things.

#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace keel {

struct Unit {};

namespace internal {

// Where resolved futures queue the coroutines waiting on them (the WorkflowInstance).
class ReadyQueue {
 public:
  virtual ~ReadyQueue() = default;
  virtual void Schedule(std::coroutine_handle<> h) = 0;
};

class FutureStateBase {
 public:
  explicit FutureStateBase(ReadyQueue* q) : queue_(q) {}
  virtual ~FutureStateBase() = default;
  bool ready() const { return ready_; }
  bool failed() const { return error_ != nullptr; }
  std::exception_ptr error() const { return error_; }
  void AddWaiter(std::coroutine_handle<> h) { waiters_.push_back(h); }
  // Callbacks run synchronously at resolution (used by combinators).
  void OnReady(std::function<void()> cb) {
    if (ready_) {
      cb();
    } else {
      callbacks_.push_back(std::move(cb));
    }
  }
  void Fail(std::exception_ptr e) {
    if (ready_) return;
    error_ = std::move(e);
    Finish();
  }

 protected:
  void Finish() {
    ready_ = true;
    for (auto h : waiters_) queue_->Schedule(h);
    waiters_.clear();
    auto cbs = std::move(callbacks_);
    for (auto& cb : cbs) cb();
  }

 private:
  ReadyQueue* queue_;
  bool ready_ = false;
  std::exception_ptr error_;
  std::vector<std::coroutine_handle<>> waiters_;
  std::vector<std::function<void()>> callbacks_;
};

template <typename T>
class FutureState final : public FutureStateBase {
 public:
  using FutureStateBase::FutureStateBase;
  void Resolve(T v) {
    if (ready()) return;
    value_ = std::move(v);
    Finish();
  }
  T& value() { return *value_; }

 private:
  std::optional<T> value_;
};

}  // namespace internal

// A value workflow code can co_await. Copies share one state.
template <typename T>
class Future {
 public:
  Future() = default;
  explicit Future(std::shared_ptr<internal::FutureState<T>> s) : s_(std::move(s)) {}

  bool ready() const { return s_->ready(); }
  bool failed() const { return s_->failed(); }
  // Only when ready(): the value, or rethrows the failure.
  const T& Get() const {
    if (s_->failed()) std::rethrow_exception(s_->error());
    return s_->value();
  }
  internal::FutureState<T>* state() const { return s_.get(); }

  bool await_ready() const { return s_->ready(); }
  void await_suspend(std::coroutine_handle<> h) const { s_->AddWaiter(h); }
  T await_resume() const { return Get(); }

 private:
  std::shared_ptr<internal::FutureState<T>> s_;
};

template <typename T>
Future<T> MakeFuture(internal::ReadyQueue* q) {
  return Future<T>(std::make_shared<internal::FutureState<T>>(q));
}

}  // namespace keel
