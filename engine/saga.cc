#include "engine/saga.h"

namespace keel {

void Saga::AddCompensation(std::string activity_type, json::value input, ActivityOptions options) {
  options.retry.maximum_attempts = 0;
  options.retry.non_retryable_error_types.clear();
  if (options.retry.maximum_interval == 0) options.retry.maximum_interval = 30'000;
  steps_.push_back(Step{std::move(activity_type), std::move(input), std::move(options)});
}

Workflow<std::vector<json::value>> Saga::Compensate() {
  std::vector<Step> steps = std::move(steps_);
  steps_.clear();
  return RunCompensations(ctx_, std::move(steps));
}

Workflow<std::vector<json::value>> Saga::RunCompensations(WorkflowContext* ctx,
                                                          std::vector<Step> steps) {
  std::vector<json::value> results;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    results.push_back(co_await ctx->ExecuteActivity(it->activity_type, it->input, it->options));
  }
  co_return results;
}

}  // namespace keel
