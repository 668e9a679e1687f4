#pragma once
// Exceptions that cross workflow and activity code. This is the user-facing API
// (STYLE.md habit 4): activity failures surface as exceptions from co_await.

#include <stdexcept>
#include <string>

namespace keel {

// Thrown by activity code to fail an attempt, and by workflow code to fail the
// workflow. `non_retryable` stops activity retries regardless of the policy.
class ApplicationError : public std::runtime_error {
 public:
  ApplicationError(std::string type, const std::string& message, bool non_retryable = false)
      : std::runtime_error(message), type_(std::move(type)), non_retryable_(non_retryable) {}
  const std::string& type() const { return type_; }
  bool non_retryable() const { return non_retryable_; }

 private:
  std::string type_;
  bool non_retryable_;
};

// What workflow code catches when an activity finally fails (retries exhausted,
// a non-retryable error, or a timeout). `type` is the activity's error type, or a
// timeout kind: "ScheduleToStartTimeout", "StartToCloseTimeout",
// "ScheduleToCloseTimeout", "HeartbeatTimeout".
class ActivityError : public std::runtime_error {
 public:
  ActivityError(std::string activity_type, std::string type, const std::string& message,
                bool retryable, int attempts)
      : std::runtime_error(message),
        activity_type_(std::move(activity_type)),
        type_(std::move(type)),
        retryable_(retryable),
        attempts_(attempts) {}
  const std::string& activity_type() const { return activity_type_; }
  const std::string& type() const { return type_; }
  // Whether the failure itself was of a retryable kind (retries may still have run out).
  bool retryable() const { return retryable_; }
  int attempts() const { return attempts_; }

 private:
  std::string activity_type_;
  std::string type_;
  bool retryable_;
  int attempts_;
};

// What workflow code catches when a child workflow could not start, or closed
// without completing. `type` is the child's failure type, or "Canceled",
// "Terminated", "WorkflowAlreadyStarted", "WorkflowIdReuseRejected".
class ChildWorkflowError : public std::runtime_error {
 public:
  ChildWorkflowError(std::string workflow_type, std::string workflow_id, std::string type,
                     const std::string& message)
      : std::runtime_error(message),
        workflow_type_(std::move(workflow_type)),
        workflow_id_(std::move(workflow_id)),
        type_(std::move(type)) {}
  const std::string& workflow_type() const { return workflow_type_; }
  const std::string& workflow_id() const { return workflow_id_; }
  const std::string& type() const { return type_; }

 private:
  std::string workflow_type_;
  std::string workflow_id_;
  std::string type_;
};

// Thrown into workflow code blocked on something cancelled (e.g. a cancelled timer).
class CanceledError : public std::runtime_error {
 public:
  explicit CanceledError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace keel
