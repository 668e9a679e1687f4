#pragma once
// The engine's one definition of retry defaults and backoff.

#include "common/clock.h"
#include "proto/history.pb.h"

namespace keel {

inline constexpr Millis kDefaultStartToCloseMs = 60'000;
inline constexpr Millis kDefaultInitialIntervalMs = 1'000;
inline constexpr double kDefaultBackoff = 2.0;

// Delay before attempt `next_attempt` (2 = the first retry).
Millis RetryBackoff(const proto::RetryPolicy& p, int next_attempt);
// Whether a failure of `type` (non_retryable as reported) after `attempt` may retry.
bool MayRetry(const proto::RetryPolicy& p, const proto::Failure& f, int attempt);
// The lease an activity attempt gets: start-to-close, shortened to the heartbeat timeout.
Millis ActivityLeaseMs(const proto::ActivityOptions& o);

}  // namespace keel
