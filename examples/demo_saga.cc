#include "examples/demo_saga.h"

#include <chrono>
#include <thread>

#include "engine/errors.h"
#include "engine/saga.h"

namespace keel::examples {

// ---- The workflow ----------------------------------------------------------------

namespace {

struct DemoInput {
  int64_t steps, fail_at, activity_ms, stuck_at;
  int64_t wait_ms;  // a durable timer before the first step (0: none)
};

DemoInput ParseInput(const json::value& v) {
  if (!v.is_object()) {
    throw ApplicationError("InvalidInput", "DemoSaga input must be a JSON object", true);
  }
  const auto& o = v.as_object();
  auto get = [&o](const char* k, int64_t def, int64_t lo, int64_t hi) {
    auto r = GetInt(o, k, def);
    if (!r.ok()) throw ApplicationError("InvalidInput", r.status().message(), true);
    if (*r < lo || *r > hi) {
      throw ApplicationError("InvalidInput",
                             std::string("field '") + k + "' must be between " +
                                 std::to_string(lo) + " and " + std::to_string(hi),
                             true);
    }
    return *r;
  };
  DemoInput in;
  in.steps = get("steps", 3, 0, 10000);
  in.fail_at = get("fail_at", 0, 0, in.steps);
  in.activity_ms = get("activity_ms", 0, 0, 600000);
  in.stuck_at = get("stuck_at", 0, 0, in.steps);
  in.wait_ms = get("wait_ms", 0, 0, 365LL * 24 * 3600 * 1000);
  return in;
}

ActivityOptions StepOptions(int64_t activity_ms) {
  ActivityOptions o;
  o.task_queue = kDemoQueue;
  o.start_to_close_timeout = std::max<Millis>(10'000, 10 * activity_ms);
  o.retry.initial_interval = 100;
  o.retry.maximum_interval = 2'000;
  o.retry.non_retryable_error_types = {"DemoFailure"};
  return o;
}

json::value StepInput(const WorkflowContext& ctx, int64_t k, const DemoInput& in,
                      const char* kind) {
  return json::object{{"step", k},
                      {"activity_ms", in.activity_ms},
                      {"fail", std::string(kind) == "do" && k == in.fail_at},
                      {"stuck", std::string(kind) == "do" && k == in.stuck_at},
                      {"key", ctx.info().run_id + "/" + kind + "/" + std::to_string(k)}};
}

Workflow<json::value> DemoSaga(WorkflowContext& ctx, json::value raw) {
  DemoInput in = ParseInput(raw);
  Saga saga(ctx);
  json::array completed;
  bool failed = false;
  if (in.wait_ms > 0) co_await ctx.Sleep(in.wait_ms);
  for (int64_t k = 1; k <= in.steps && !failed; ++k) {
    try {
      co_await ctx.ExecuteActivity("DemoStep", StepInput(ctx, k, in, "do"),
                                   StepOptions(in.activity_ms));
      completed.push_back(k);
      saga.AddCompensation("DemoUndo", StepInput(ctx, k, in, "undo"), StepOptions(in.activity_ms));
    } catch (const ActivityError&) {
      failed = true;
    }
  }
  json::array compensated;
  if (failed) {
    for (const auto& r : co_await saga.Compensate()) compensated.push_back(r.at("step"));
  }
  co_return json::object{{"completed", completed}, {"compensated", compensated}};
}

// The same steps, but each compensation is registered before its step runs.
Workflow<json::value> ReorderedDemoSaga(WorkflowContext& ctx, json::value raw) {
  DemoInput in = ParseInput(raw);
  json::array completed;
  for (int64_t k = 1; k <= in.steps; ++k) {
    co_await ctx.Sleep(1);
    co_await ctx.ExecuteActivity("DemoStep", StepInput(ctx, k, in, "do"),
                                 StepOptions(in.activity_ms));
    completed.push_back(k);
  }
  co_return json::object{{"completed", completed}, {"compensated", json::array()}};
}

json::value RunStep(EffectLog* log, ActivityContext& ctx, const json::value& input,
                    const char* kind) {
  const auto& o = input.as_object();
  int64_t step = o.at("step").as_int64();
  int64_t ms = o.at("activity_ms").as_int64();
  if (o.at("fail").as_bool()) {
    throw ApplicationError("DemoFailure", "step " + std::to_string(step) + " fails (fail_at)",
                           true);
  }
  if (o.at("stuck").as_bool()) {
    throw ApplicationError("DemoStuck",
                           "step " + std::to_string(step) + " fails on every attempt (stuck_at)");
  }
  if (log) {
    auto r = log->Apply(std::string(o.at("key").as_string()), ctx.info().workflow_id,
                        static_cast<int>(step), kind);
    if (!r.ok()) throw ApplicationError("EffectLogBusy", r.status().message());
  }
  // The effect lands first and the reply is slow, like a charge: a crash in between
  // re-runs the step, and only the idempotency key keeps it from applying twice.
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return json::object{{"step", step}};
}

}  // namespace

void RegisterDemo(Registry& registry, EffectLog* log) {
  registry.RegisterWorkflow("DemoSaga", DemoSaga);
  registry.RegisterActivity(
      "DemoStep",
      [log](ActivityContext& ctx, const json::value& in) { return RunStep(log, ctx, in, "do"); },
      kDemoQueue);
  registry.RegisterActivity(
      "DemoUndo",
      [log](ActivityContext& ctx, const json::value& in) { return RunStep(log, ctx, in, "undo"); },
      kDemoQueue);
}

void RegisterReorderedDemoForTest(Registry& registry) {
  RegisterDemo(registry, nullptr);
  registry.RegisterWorkflow("DemoSaga", ReorderedDemoSaga);
}

}  // namespace keel::examples
