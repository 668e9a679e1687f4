#pragma once
// WhenAll and WhenAny over workflow futures. Deterministic: they resolve during
// the resolution of their inputs, in history order.

#include <memory>
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
  auto remaining = std::make_shared<size_t>(fs.size());
  auto finish = [out, fs]() {
    std::vector<T> values;
    for (const auto& f : fs) {
      if (f.failed()) {
        out.state()->Fail(f.state()->error());
        return;
      }
      values.push_back(f.Get());
    }
    out.state()->Resolve(std::move(values));
  };
  if (fs.empty()) {
    finish();
    return out;
  }
  for (auto& f : fs) {
    f.state()->OnReady([remaining, finish]() {
      if (--*remaining == 0) finish();
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
