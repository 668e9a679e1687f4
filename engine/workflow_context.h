#pragma once
// What workflow code may touch. Everything nondeterministic (time, randomness,
// I/O) goes through here, so replaying the history reproduces the same run.
// A context belongs to one run and is used from one thread at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/json.h"
#include "engine/future.h"
#include "engine/options.h"

namespace keel {

struct WorkflowInfo {
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string task_queue;
};

// A durable timer. `fired()` resolves true when it fires and false if cancelled first.
class Timer {
 public:
  Timer() = default;
  Timer(std::string id, Future<bool> f, std::function<void()> cancel)
      : id_(std::move(id)), fired_(std::move(f)), cancel_(std::move(cancel)) {}
  const Future<bool>& fired() const { return fired_; }
  // Cancels the timer if it has not fired; a no-op afterwards.
  void Cancel() {
    if (cancel_ && !fired_.ready()) cancel_();
  }
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  Future<bool> fired_;
  std::function<void()> cancel_;
};

// Signals of one name, in arrival order. Buffered until received.
class SignalChannel {
 public:
  virtual ~SignalChannel() = default;
  // Resolves with the next signal's payload.
  virtual Future<json::value> Receive() = 0;
  // The next buffered payload, if one has arrived.
  virtual std::optional<json::value> TryReceive() = 0;
};

// A child workflow this run started. The child is created atomically with the
// parent's command, so it exists once the parent's workflow task commits.
class ChildWorkflow {
 public:
  ChildWorkflow() = default;
  ChildWorkflow(std::string workflow_id, Future<std::string> started, Future<json::value> result,
                std::function<void()> cancel)
      : workflow_id_(std::move(workflow_id)),
        started_(std::move(started)),
        result_(std::move(result)),
        cancel_(std::move(cancel)) {}
  const std::string& workflow_id() const { return workflow_id_; }
  // Resolves with the child's run id, or fails with ChildWorkflowError when it
  // could not start (its id is running, or the reuse policy refused).
  const Future<std::string>& started() const { return started_; }
  // Resolves with the child's result, or fails with ChildWorkflowError.
  const Future<json::value>& result() const { return result_; }
  // Asks the child to cancel (a cancel request in its history); its result then
  // says how it ended. A no-op once the result is known.
  void RequestCancel() {
    if (cancel_ && !result_.ready()) cancel_();
  }

 private:
  std::string workflow_id_;
  Future<std::string> started_;
  Future<json::value> result_;
  std::function<void()> cancel_;
};

// Thrown (by WorkflowContext::ContinueAsNew) to close this run and start a fresh one
// of the same workflow id with `input` and an empty history. Deliberately not a
// std::exception, so `catch (const std::exception&)` in workflow code lets it pass.
struct ContinueAsNewRequest {
  json::value input;
  std::string workflow_type;  // empty: the same type
  std::string task_queue;     // empty: the same queue
};

class WorkflowContext;

// Operations started through a scope can be cancelled together (Temporal's
// CancellationScope): Cancel() cancels its timers (fired() resolves false), requests
// cancellation of its activities (their futures fail with CanceledError at once) and
// asks its child workflows to cancel. Operations started after Cancel() are cancelled
// as they start. Typical use: race the work with ctx.CancelRequested(), cancel the
// scope, then compensate.
class CancellationScope {
 public:
  explicit CancellationScope(WorkflowContext& ctx) : ctx_(&ctx) {}
  Future<json::value> ExecuteActivity(const std::string& activity_type, json::value input,
                                      const ActivityOptions& options);
  Timer NewTimer(Millis duration);
  ChildWorkflow StartChildWorkflow(const std::string& workflow_type, json::value input,
                                   const ChildWorkflowOptions& options);
  void Cancel();
  bool cancelled() const { return cancelled_; }

 private:
  WorkflowContext* ctx_;
  std::vector<Future<json::value>> activities_;
  std::vector<Timer> timers_;
  std::vector<ChildWorkflow> children_;
  bool cancelled_ = false;
};

class WorkflowContext {
 public:
  virtual ~WorkflowContext() = default;
  virtual const WorkflowInfo& info() const = 0;

  // Schedules an activity; the future fails with ActivityError when it finally fails.
  virtual Future<json::value> ExecuteActivity(const std::string& activity_type, json::value input,
                                              const ActivityOptions& options) = 0;
  virtual Timer NewTimer(Millis duration) = 0;
  Future<bool> Sleep(Millis duration) { return NewTimer(duration).fired(); }
  virtual SignalChannel& GetSignalChannel(const std::string& name) = 0;
  virtual ChildWorkflow StartChildWorkflow(const std::string& workflow_type, json::value input,
                                           const ChildWorkflowOptions& options) = 0;
  // Asks the engine to cancel the activity behind `activity` (a future ExecuteActivity
  // returned) and fails that future with CanceledError at once. An attempt not yet
  // running is dropped; a running one is told at its next heartbeat (Heartbeat throws
  // CanceledError) and whatever it returns is ignored. A no-op once the future is ready.
  virtual void RequestCancelActivity(const Future<json::value>& activity) = 0;
  Future<json::value> ExecuteChildWorkflow(const std::string& workflow_type, json::value input,
                                           const ChildWorkflowOptions& options) {
    return StartChildWorkflow(workflow_type, std::move(input), options).result();
  }
  // (Not a default argument: GCC 12 destroys a defaulted temporary in a co_await
  // expression twice when the awaited future fails.)
  Future<json::value> ExecuteChildWorkflow(const std::string& workflow_type, json::value input) {
    return StartChildWorkflow(workflow_type, std::move(input), ChildWorkflowOptions{}).result();
  }
  // Ends this run and continues as a new run of the same id (see ContinueAsNewRequest).
  // The way to keep a long-lived workflow's history short.
  [[noreturn]] void ContinueAsNew(json::value input, std::string workflow_type = "",
                                  std::string task_queue = "") {
    throw ContinueAsNewRequest{std::move(input), std::move(workflow_type), std::move(task_queue)};
  }

  // Deterministic time: the time of the history event the current step saw last.
  virtual Millis Now() const = 0;
  // Deterministic randomness, seeded per run.
  virtual uint64_t Random() = 0;
  virtual std::string NewUuid() = 0;
  // Runs fn once and records its result; replays return the recorded value.
  virtual json::value SideEffect(const std::function<json::value()>& fn) = 0;
  // The version of `change_id` this run follows: max_supported for new runs,
  // the recorded one on replay, kDefaultVersion for runs started before the change.
  static constexpr int kDefaultVersion = -1;
  virtual int GetVersion(const std::string& change_id, int min_supported, int max_supported) = 0;
  virtual bool IsReplaying() const = 0;
  // Answers query `name` (`keel workflow query`) from the run's state: the handler
  // sees the state the run reached at its last event. It must only read (no
  // activities, timers or other commands). Open runs only: register handlers in the
  // workflow's top-level function, whose locals they may read until it returns.
  using QueryHandler = std::function<json::value(const json::value& args)>;
  virtual void SetQueryHandler(const std::string& name, QueryHandler handler) = 0;
  // True once a cancel of this run was requested.
  virtual bool IsCancelRequested() const = 0;
  // Resolves when a cancel of this run is requested (a client's cancel, or the
  // parent's): race it with WhenAny to stop waiting and compensate.
  virtual Future<Unit> CancelRequested() = 0;
};

inline Future<json::value> CancellationScope::ExecuteActivity(const std::string& activity_type,
                                                              json::value input,
                                                              const ActivityOptions& options) {
  auto f = ctx_->ExecuteActivity(activity_type, std::move(input), options);
  if (cancelled_) {
    ctx_->RequestCancelActivity(f);
  } else {
    activities_.push_back(f);
  }
  return f;
}

inline Timer CancellationScope::NewTimer(Millis duration) {
  Timer t = ctx_->NewTimer(duration);
  if (cancelled_) {
    t.Cancel();
  } else {
    timers_.push_back(t);
  }
  return t;
}

inline ChildWorkflow CancellationScope::StartChildWorkflow(const std::string& workflow_type,
                                                           json::value input,
                                                           const ChildWorkflowOptions& options) {
  ChildWorkflow c = ctx_->StartChildWorkflow(workflow_type, std::move(input), options);
  if (cancelled_) {
    c.RequestCancel();
  } else {
    children_.push_back(c);
  }
  return c;
}

inline void CancellationScope::Cancel() {
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& t : timers_) t.Cancel();
  for (auto& a : activities_) ctx_->RequestCancelActivity(a);
  for (auto& c : children_) c.RequestCancel();
}

}  // namespace keel
