#pragma once
// WhenAll and WhenAny over workflow futures. Deterministic: they resolve during
// the resolution of their inputs, in history order.

#include <memory>
#include <optional>
#include <vector>

#include "engine/future.h"
#include "engine/workflow_context.h"

namespace keel {

namespace internal {
ReadyQueue* CurrentReadyQueue();  // the activation running on this thread
}

// Waits for all; fails with the first failure (in order) once all are done.
template <typename T>
Future<std::vector<T>> WhenAll(std::vector<Future<T>> fs) {
  auto out = MakeFuture<std::vector<T>>(internal::CurrentReadyQueue());
  if (fs.empty()) {
    out.state()->Resolve({});
    return out;
  }
  // What the inputs' callbacks share: the output, never the inputs. An input owning
  // a callback that owns the inputs would be a cycle, leaked by every run abandoned
  // while it waits (an evicted cache entry, a replay or query of an open run).
  struct Collect {
    Future<std::vector<T>> out;
    std::vector<std::optional<T>> values;
    std::vector<std::exception_ptr> errors;
    size_t remaining;
  };
  auto c =
      std::make_shared<Collect>(Collect{out, std::vector<std::optional<T>>(fs.size()),
                                        std::vector<std::exception_ptr>(fs.size()), fs.size()});
  for (size_t i = 0; i < fs.size(); ++i) {
    // A callback runs only from its own state's resolution, so the state is alive.
    internal::FutureState<T>* s = fs[i].state();
    s->OnReady([c, s, i] {
      if (s->failed()) {
        c->errors[i] = s->error();
      } else {
        c->values[i] = s->value();
      }
      if (--c->remaining > 0) return;
      for (const auto& e : c->errors) {
        if (e) {
          c->out.state()->Fail(e);
          return;
        }
      }
      std::vector<T> values;
      values.reserve(c->values.size());
      for (auto& v : c->values) values.push_back(std::move(*v));
      c->out.state()->Resolve(std::move(values));
    });
  }
  return out;
}

// Resolves with the index of the first future to become ready (failed ones too).
template <typename... Fs>
Future<size_t> WhenAny(const Fs&... fs) {
  auto out = MakeFuture<size_t>(internal::CurrentReadyQueue());
  size_t i = 0;
  (fs.state()->OnReady([out, idx = i++]() { out.state()->Resolve(idx); }), ...);
  return out;
}

template <typename T>
Future<size_t> WhenAnyOf(const std::vector<Future<T>>& fs) {
  auto out = MakeFuture<size_t>(internal::CurrentReadyQueue());
  for (size_t i = 0; i < fs.size(); ++i) {
    fs[i].state()->OnReady([out, i]() { out.state()->Resolve(i); });
  }
  return out;
}

}  // namespace keel
