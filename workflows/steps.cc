#include "workflows/steps.h"

#include "activities/contracts.h"

namespace keel::workflows {

ActivityOptions StepOptions(const char* queue) {
  ActivityOptions o;
  o.task_queue = queue;
  // A step is a few database statements: a worker that died holding one is noticed
  // (its lease ends) in seconds, not minutes.
  o.start_to_close_timeout = 10'000;
  o.retry.initial_interval = 200;
  o.retry.maximum_interval = 5'000;
  return o;
}

ActivityOptions PaymentOptions(Millis window_left_ms) {
  ActivityOptions o = StepOptions(activities::kPaymentQueue);
  o.start_to_close_timeout = 15'000;
  o.schedule_to_close_timeout = window_left_ms;
  return o;
}

ActivityOptions CompensationOptions(const char* queue) {
  ActivityOptions o = StepOptions(queue);
  o.retry.maximum_interval = 30'000;
  o.retry.maximum_attempts = 0;
  return o;
}

Workflow<Unit> TransitionOrder(WorkflowContext* ctx, std::string order_id, std::string from,
                               std::string to, std::string reason) {
  const activities::TransitionIn in{order_id, from, to, reason};
  co_await Call(*ctx, activities::kTransitionOrder, in, StepOptions(activities::kOrdersQueue));
  co_return Unit{};
}

Workflow<Unit> NotifyBuyer(WorkflowContext* ctx, std::string user_id, std::string order_id,
                           std::string type, std::string message) {
  const activities::NotifyIn in{order_id + "/" + type, user_id, order_id, type, message};
  co_await Call(*ctx, activities::kNotify, in, StepOptions(activities::kNotificationsQueue));
  co_return Unit{};
}

}  // namespace keel::workflows
