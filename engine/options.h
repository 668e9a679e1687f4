#pragma once
// Options workflow code passes when it schedules activities. Zero means "the
// engine default"; the defaults live in one place, engine/retry.h.

#include <string>
#include <vector>

#include "common/clock.h"
#include "proto/history.pb.h"

namespace keel {

struct RetryPolicy {
  Millis initial_interval = 0;     // default 1 s
  double backoff_coefficient = 0;  // default 2.0
  Millis maximum_interval = 0;     // default 100 x initial_interval
  int maximum_attempts = 0;        // 0 = unlimited
  std::vector<std::string> non_retryable_error_types;
};

struct ActivityOptions {
  std::string task_queue;                // default: the queue the activity was registered on
  Millis schedule_to_start_timeout = 0;  // 0 = none
  Millis start_to_close_timeout = 0;     // default 60 s
  Millis schedule_to_close_timeout = 0;  // 0 = none
  Millis heartbeat_timeout = 0;          // 0 = none
  RetryPolicy retry;
};

proto::ActivityOptions ToProto(const ActivityOptions& o);

struct ChildWorkflowOptions {
  std::string workflow_id;  // default: "<parent workflow id>/<child sequence>"
  std::string task_queue;   // default: the parent's
  // Default as in Temporal: a child does not outlive its parent unless told to.
  proto::ParentClosePolicy parent_close_policy = proto::PARENT_CLOSE_POLICY_TERMINATE;
  proto::WorkflowIdReusePolicy reuse_policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE;
};

}  // namespace keel
