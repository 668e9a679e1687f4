#pragma once
// What activity code gets: who it runs for, and a way to heartbeat.

#include <atomic>
#include <functional>
#include <string>

#include "common/json.h"

namespace keel {

struct ActivityInfo {
  std::string workflow_id;
  std::string run_id;
  std::string activity_id;
  std::string activity_type;
  std::string task_queue;
  int attempt = 1;
  // Details from the last heartbeat of an earlier attempt (null if none), so a
  // retried activity can resume where it left off.
  json::value heartbeat_details;
};

class ActivityContext {
 public:
  ActivityContext(ActivityInfo info, std::function<void(const json::value&)> heartbeat,
                  const std::atomic<bool>* stopping)
      : info_(std::move(info)), heartbeat_(std::move(heartbeat)), stopping_(stopping) {}
  const ActivityInfo& info() const { return info_; }
  // Records progress and extends the attempt's heartbeat deadline. Throws
  // CanceledError when the workflow cancelled this activity: let it propagate (after
  // undoing what must be undone), and the attempt ends as cancelled, not retried.
  void Heartbeat(const json::value& details) {
    if (heartbeat_) heartbeat_(details);
  }
  // True when the worker is shutting down; long activities should return early.
  bool stopping() const { return stopping_ && stopping_->load(); }
  // An idempotency key for this activity that is the same on every attempt.
  std::string IdempotencyKey() const { return info_.run_id + "/" + info_.activity_id; }

 private:
  ActivityInfo info_;
  std::function<void(const json::value&)> heartbeat_;
  const std::atomic<bool>* stopping_;
};

}  // namespace keel
