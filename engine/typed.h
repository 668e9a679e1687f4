#pragma once
// Typed activities for workflow authors. An ActivityRef names an activity together
// with its input and output types, so a call with the wrong struct, or a result read
// as the wrong type, does not compile:
//
//   struct ReserveIn { std::string hold_id, sku; int64_t quantity = 0; };
//   BOOST_DESCRIBE_STRUCT(ReserveIn, (), (hold_id, sku, quantity))
//   inline constexpr ActivityRef<ReserveIn, HoldOut> kReserve{"inventory.reserve", "inventory"};
//
//   ReserveIn in{...};
//   HoldOut h = co_await Call(ctx, kReserve, in, options);                  // workflow
//   Register(registry, kReserve, [](ActivityContext&, const ReserveIn& in) {...});  // worker
//
// WorkflowRef does the same for a workflow type's input and result.
//
// Payloads stay JSON (common/json_struct.h converts them), so a workflow moved to
// typed calls still replays the histories it recorded before. An input a worker
// cannot decode fails the activity without a retry (ApplicationError "InvalidInput");
// a result the workflow cannot decode fails its future with JsonShapeError.

#include <string>
#include <utility>

#include "common/json_struct.h"
#include "engine/combinators.h"
#include "engine/errors.h"
#include "engine/future.h"
#include "engine/registry.h"
#include "engine/saga.h"
#include "engine/workflow.h"
#include "engine/workflow_context.h"

namespace keel {

template <typename In, typename Out>
struct ActivityRef {
  using Input = In;
  using Output = Out;
  const char* name;
  const char* task_queue;
};

// A workflow type with its input and result types. Its function is
// `Workflow<Out> fn(WorkflowContext&, In)`; an input that does not decode fails the
// run with a non-retryable ApplicationError "InvalidInput".
template <typename In, typename Out>
struct WorkflowRef {
  using Input = In;
  using Output = Out;
  const char* name;
  const char* task_queue = kDefaultWorkflowQueue;
};

namespace typed_internal {

// The future of an activity's JSON result, as a future of Out.
template <typename Out>
Future<Out> As(const Future<json::value>& raw, const char* name) {
  if constexpr (std::is_same_v<Out, json::value>) {
    return raw;
  } else {
    auto out = MakeFuture<Out>(internal::CurrentReadyQueue());
    internal::FutureState<json::value>* s = raw.state();
    // The callback holds the output only (see WhenAll: no cycle through the input).
    s->OnReady([out, s, name] {
      if (s->failed()) return out.state()->Fail(s->error());
      try {
        out.state()->Resolve(Decode<Out>(s->value(), std::string(name) + " result"));
      } catch (...) {
        out.state()->Fail(std::current_exception());
      }
    });
    return out;
  }
}

template <typename In>
In DecodeInput(const json::value& raw, const char* name) {
  try {
    return Decode<In>(raw, std::string(name) + " input");
  } catch (const JsonShapeError& e) {
    throw ApplicationError("InvalidInput", e.what(), true);
  }
}

template <typename In, typename Out>
Workflow<json::value> RunWorkflow(Workflow<Out> (*fn)(WorkflowContext&, In), WorkflowContext& ctx,
                                  json::value raw, const char* name) {
  const In in = DecodeInput<In>(raw, name);  // named: see Call
  Out out = co_await fn(ctx, in);
  co_return Encode(out);
}

}  // namespace typed_internal

// Schedules the activity on the ref's task queue (options.task_queue, if set, wins).
// The input must be a named variable: GCC 12 destroys an aggregate temporary in a
// co_await expression twice, so `co_await Call(ctx, ref, {a, b}, o)` would corrupt
// memory. The deleted overloads make that a compile error.
template <typename In, typename Out>
Future<Out> Call(WorkflowContext& ctx, ActivityRef<In, Out> ref, const In& input,
                 ActivityOptions options) {
  if (options.task_queue.empty()) options.task_queue = ref.task_queue;
  return typed_internal::As<Out>(ctx.ExecuteActivity(ref.name, Encode(input), options), ref.name);
}
template <typename In, typename Out>
Future<Out> Call(CancellationScope& scope, ActivityRef<In, Out> ref, const In& input,
                 ActivityOptions options) {
  if (options.task_queue.empty()) options.task_queue = ref.task_queue;
  return typed_internal::As<Out>(scope.ExecuteActivity(ref.name, Encode(input), options), ref.name);
}
template <typename In, typename Out>
Future<Out> Call(WorkflowContext&, ActivityRef<In, Out>, In&&, ActivityOptions) = delete;
template <typename In, typename Out>
Future<Out> Call(CancellationScope&, ActivityRef<In, Out>, In&&, ActivityOptions) = delete;

// Registers the step that undoes a saga step, with a typed input.
template <typename In, typename Out>
void AddCompensation(Saga& saga, ActivityRef<In, Out> ref, const In& input,
                     ActivityOptions options) {
  if (options.task_queue.empty()) options.task_queue = ref.task_queue;
  saga.AddCompensation(ref.name, Encode(input), std::move(options));
}

// Registers `fn(ActivityContext&, const In&) -> Out` as the ref's activity.
template <typename In, typename Out, typename Fn>
void Register(Registry& registry, ActivityRef<In, Out> ref, Fn fn) {
  registry.RegisterActivity(
      ref.name,
      [fn = std::move(fn), name = ref.name](ActivityContext& ctx, const json::value& raw) {
        return Encode(fn(ctx, typed_internal::DecodeInput<In>(raw, name)));
      },
      ref.task_queue);
}

template <typename In, typename Out>
void Register(Registry& registry, WorkflowRef<In, Out> ref,
              Workflow<Out> (*fn)(WorkflowContext&, In)) {
  registry.RegisterWorkflow(
      ref.name,
      [fn, name = ref.name](WorkflowContext& ctx, json::value raw) {
        return typed_internal::RunWorkflow<In, Out>(fn, ctx, std::move(raw), name);
      },
      ref.task_queue);
}

}  // namespace keel
