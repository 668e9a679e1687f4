#pragma once
// One run's workflow code, driven by its history (the worker's side of replay).
//
// Apply() takes history events in order, continuing from the last call. Inputs
// (started, activity results, fired timers, signals) are queued. At each
// WorkflowTaskCompleted(seen_through = s) the instance delivers the queued inputs
// with id <= s, runs the code until every coroutine is blocked, and matches the
// commands it made, in order, against the command events that follow. A mismatch
// is a nondeterminism error (reason "nondeterminism"); nothing is written. After
// the last event, every queued input is delivered, the code runs, and the new
// commands are returned: the workflow task's answer.
//
// The instance is single-threaded and is thrown away after any error.

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "engine/registry.h"
#include "engine/workflow_context.h"
#include "proto/history.pb.h"

namespace keel::internal {

class WorkflowInstance final : public WorkflowContext, public ReadyQueue {
 public:
  WorkflowInstance(const WorkflowDef* def, WorkflowInfo info);
  ~WorkflowInstance() override;

  // See the file comment. On success returns the new commands (possibly none).
  Result<std::vector<proto::Command>> Apply(const std::vector<proto::HistoryEvent>& events);
  int64_t last_event_id() const { return last_event_id_; }
  bool closed() const { return closed_; }

  // WorkflowContext
  const WorkflowInfo& info() const override { return info_; }
  Future<json::value> ExecuteActivity(const std::string& activity_type, json::value input,
                                      const ActivityOptions& options) override;
  Timer NewTimer(Millis duration) override;
  SignalChannel& GetSignalChannel(const std::string& name) override;
  ChildWorkflow StartChildWorkflow(const std::string& workflow_type, json::value input,
                                   const ChildWorkflowOptions& options) override;
  void RequestCancelActivity(const Future<json::value>& activity) override;
  Millis Now() const override { return now_; }
  uint64_t Random() override { return rng_(); }
  std::string NewUuid() override;
  json::value SideEffect(const std::function<json::value()>& fn) override;
  int GetVersion(const std::string& change_id, int min_supported, int max_supported) override;
  bool IsReplaying() const override { return replaying_; }
  void SetQueryHandler(const std::string& name, QueryHandler handler) override {
    queries_[name] = std::move(handler);
  }
  // Runs query `name` against the state reached so far. NotFound (reason
  // "unknown_query") names the queries the run answers.
  Result<json::value> Query(const std::string& name, const json::value& args);
  bool IsCancelRequested() const override { return cancel_requested_; }
  Future<Unit> CancelRequested() override;

  // ReadyQueue
  void Schedule(std::coroutine_handle<> h) override { ready_.push_back(h); }

 private:
  class Channel;
  struct PendingActivity {
    std::string type;
    Future<json::value> future;
  };
  struct PendingChild {
    std::string type, workflow_id;
    Future<std::string> started;
    Future<json::value> result;
  };

  // Wakes what waits on `e` (a table of the handlers below).
  Status Deliver(const proto::HistoryEvent& e);
  Status OnStarted(const proto::WorkflowExecutionStarted& a);
  void OnActivityCompleted(const proto::HistoryEvent& e);
  void OnActivityFailed(const proto::HistoryEvent& e);
  void OnActivityCanceled(const proto::HistoryEvent& e);
  void OnTimerFired(const proto::HistoryEvent& e);
  void OnSignaled(const proto::HistoryEvent& e);
  void OnCancelRequested(const proto::HistoryEvent& e);
  void OnChildStarted(const proto::HistoryEvent& e);
  void OnChildCompleted(const proto::HistoryEvent& e);
  void OnChildFailed(const proto::HistoryEvent& e);
  Status RunUntilBlocked();
  Status Match(const std::vector<const proto::HistoryEvent*>& recorded, int64_t wt_event_id);
  std::string NextId() { return std::to_string(++seq_); }
  void AddCommand(proto::Command c);

  const WorkflowDef* def_;
  WorkflowInfo info_;
  std::optional<Workflow<json::value>> root_;
  std::deque<std::coroutine_handle<>> ready_;
  std::vector<proto::Command> unconfirmed_;  // made, not yet matched to history
  std::deque<proto::HistoryEvent> inputs_;   // queued, not yet delivered
  std::map<std::string, PendingActivity> activities_;
  std::map<std::string, Future<bool>> timers_;
  std::map<std::string, PendingChild> children_;
  std::optional<Future<Unit>> cancel_future_;
  std::map<std::string, QueryHandler> queries_;
  std::map<std::string, std::unique_ptr<Channel>> channels_;
  std::unordered_map<std::string, proto::Payload> markers_ahead_;  // replay lookahead
  std::map<std::string, int> versions_;
  std::vector<Millis> event_times_;  // index = event id
  int64_t seq_ = 0;
  int64_t last_event_id_ = 0;
  Millis now_ = 0;
  bool replaying_ = false;
  bool closed_ = false;
  bool cancel_requested_ = false;
  std::mt19937_64 rng_;
};

// Nondeterminism and other workflow task failures, as stable reasons.
inline constexpr const char* kReasonNondeterminism = "nondeterminism";
inline constexpr const char* kReasonWorkflowPanic = "workflow_panic";
inline constexpr const char* kReasonUnknownWorkflowType = "unknown_workflow_type";

}  // namespace keel::internal
