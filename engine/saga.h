#pragma once
// The saga helper: after each step that succeeds, register the activity that
// undoes it; on failure or cancellation, Compensate() runs the registered
// compensations in reverse order. Each compensation is an activity retried until
// it succeeds (unlimited attempts, capped backoff), so it must be idempotent.

#include <string>
#include <vector>

#include "common/json.h"
#include "engine/options.h"
#include "engine/workflow.h"
#include "engine/workflow_context.h"

namespace keel {

class Saga {
 public:
  explicit Saga(WorkflowContext& ctx) : ctx_(&ctx) {}
  // `options.retry.maximum_attempts` and non-retryable types are overridden: a
  // compensation retries until it succeeds.
  void AddCompensation(std::string activity_type, json::value input, ActivityOptions options);
  // Runs the compensations in reverse; returns the result of each, in the order run.
  Workflow<std::vector<json::value>> Compensate();
  size_t size() const { return steps_.size(); }

 private:
  struct Step {
    std::string activity_type;
    json::value input;
    ActivityOptions options;
  };
  static Workflow<std::vector<json::value>> RunCompensations(WorkflowContext* ctx,
                                                             std::vector<Step> steps);
  WorkflowContext* ctx_;
  std::vector<Step> steps_;
};

}  // namespace keel
