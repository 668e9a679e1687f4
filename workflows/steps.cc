#include "workflows/steps.h"

#include "activities/commerce_activities.h"
#include "engine/errors.h"

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

InputReader::InputReader(const json::value& v, std::string what) : what_(std::move(what)) {
  if (!v.is_object())
    throw ApplicationError("InvalidInput", what_ + " input must be an object", true);
  o_ = &v.as_object();
}

const json::value& InputReader::Field(const char* key) const {
  const json::value* v = o_->if_contains(key);
  if (!v) throw ApplicationError("InvalidInput", what_ + ": missing field " + key, true);
  return *v;
}

std::string InputReader::Str(const char* key) const {
  const json::value& v = Field(key);
  if (!v.is_string())
    throw ApplicationError("InvalidInput", what_ + ": " + key + " must be a string", true);
  return std::string(v.as_string());
}

int64_t InputReader::Int(const char* key) const {
  const json::value& v = Field(key);
  if (!v.is_int64())
    throw ApplicationError("InvalidInput", what_ + ": " + key + " must be an integer", true);
  return v.as_int64();
}

int64_t InputReader::Int(const char* key, int64_t fallback) const {
  return o_->contains(key) ? Int(key) : fallback;
}

const json::array& InputReader::Array(const char* key) const {
  const json::value& v = Field(key);
  if (!v.is_array())
    throw ApplicationError("InvalidInput", what_ + ": " + key + " must be an array", true);
  return v.as_array();
}

json::array ToJson(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.push_back(json::value(s));
  return a;
}

std::vector<std::string> StringsOf(const json::value& v) {
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& s : v.as_array()) {
      if (s.is_string()) out.emplace_back(s.as_string());
    }
  }
  return out;
}

Workflow<Unit> TransitionOrder(WorkflowContext* ctx, std::string order_id, std::string from,
                               std::string to, std::string reason) {
  json::object in0 =
      json::object{{"order_id", order_id}, {"from", from}, {"to", to}, {"reason", reason}};
  co_await ctx->ExecuteActivity("orders.transition", in0, StepOptions(activities::kOrdersQueue));
  co_return Unit{};
}

Workflow<Unit> NotifyBuyer(WorkflowContext* ctx, std::string user_id, std::string order_id,
                           std::string type, std::string message) {
  json::object in1 = json::object{{"event_id", order_id + "/" + type},
                                  {"user_id", user_id},
                                  {"order_id", order_id},
                                  {"type", type},
                                  {"message", message}};
  co_await ctx->ExecuteActivity("notify", in1, StepOptions(activities::kNotificationsQueue));
  co_return Unit{};
}

}  // namespace keel::workflows
