#include "engine/retry.h"

#include <algorithm>
#include <cmath>

#include "engine/options.h"

namespace keel {

Millis RetryBackoff(const proto::RetryPolicy& p, int next_attempt) {
  Millis initial =
      p.initial_interval_ms() > 0 ? p.initial_interval_ms() : kDefaultInitialIntervalMs;
  double coef = p.backoff_coefficient() >= 1.0 ? p.backoff_coefficient() : kDefaultBackoff;
  Millis max = p.maximum_interval_ms() > 0 ? p.maximum_interval_ms() : 100 * initial;
  double d = static_cast<double>(initial) * std::pow(coef, std::max(0, next_attempt - 2));
  return static_cast<Millis>(std::min<double>(d, static_cast<double>(max)));
}

bool MayRetry(const proto::RetryPolicy& p, const proto::Failure& f, int attempt) {
  if (f.non_retryable()) return false;
  for (const auto& t : p.non_retryable_error_types()) {
    if (t == f.type()) return false;
  }
  return p.maximum_attempts() <= 0 || attempt < p.maximum_attempts();
}

Millis ActivityLeaseMs(const proto::ActivityOptions& o) {
  Millis s2c =
      o.start_to_close_timeout_ms() > 0 ? o.start_to_close_timeout_ms() : kDefaultStartToCloseMs;
  if (o.heartbeat_timeout_ms() > 0) s2c = std::min(s2c, o.heartbeat_timeout_ms());
  return s2c;
}

proto::ActivityOptions ToProto(const ActivityOptions& o) {
  proto::ActivityOptions p;
  p.set_task_queue(o.task_queue);
  p.set_schedule_to_start_timeout_ms(o.schedule_to_start_timeout);
  p.set_start_to_close_timeout_ms(o.start_to_close_timeout);
  p.set_schedule_to_close_timeout_ms(o.schedule_to_close_timeout);
  p.set_heartbeat_timeout_ms(o.heartbeat_timeout);
  auto* r = p.mutable_retry_policy();
  r->set_initial_interval_ms(o.retry.initial_interval);
  r->set_backoff_coefficient(o.retry.backoff_coefficient);
  r->set_maximum_interval_ms(o.retry.maximum_interval);
  r->set_maximum_attempts(o.retry.maximum_attempts);
  for (const auto& t : o.retry.non_retryable_error_types) r->add_non_retryable_error_types(t);
  return p;
}

}  // namespace keel
