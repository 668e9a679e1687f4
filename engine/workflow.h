#pragma once
// Workflow<T>: the coroutine type of workflow code and of helpers it co_awaits.
// Lazily started; co_await on it runs it to its first suspension and resumes the
// awaiter when it finishes (symmetric transfer, no recursion).
//
// Write workflow coroutines as free functions taking their arguments by value
// (a capturing lambda coroutine outlives its captures; see STYLE.md, Seastar).

#include <coroutine>
#include <exception>
#include <optional>
#include <utility>

#include "engine/future.h"

namespace keel {

template <typename T = Unit>
class [[nodiscard]] Workflow {
 public:
  struct promise_type;
  using Handle = std::coroutine_handle<promise_type>;

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(Handle h) noexcept {
      auto c = h.promise().continuation;
      return c ? c : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };

  struct PromiseBase {
    std::coroutine_handle<> continuation;
    std::exception_ptr error;
    std::suspend_always initial_suspend() noexcept { return {}; }
    FinalAwaiter final_suspend() noexcept { return {}; }
    void unhandled_exception() { error = std::current_exception(); }
  };

  struct promise_type : PromiseBase {
    std::optional<T> value;
    Workflow get_return_object() { return Workflow(Handle::from_promise(*this)); }
    void return_value(T v) { value = std::move(v); }
  };

  Workflow(Workflow&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  Workflow& operator=(Workflow&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  ~Workflow() {
    if (h_) h_.destroy();
  }

  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) noexcept {
    h_.promise().continuation = awaiter;
    return h_;
  }
  T await_resume() {
    if (h_.promise().error) std::rethrow_exception(h_.promise().error);
    return std::move(*h_.promise().value);
  }

  // For the engine: drive the root coroutine.
  Handle handle() const { return h_; }
  bool done() const { return h_ && h_.done(); }
  std::exception_ptr error() const { return h_.promise().error; }
  T& value() { return *h_.promise().value; }

 private:
  explicit Workflow(Handle h) : h_(h) {}
  Handle h_;
};

}  // namespace keel
