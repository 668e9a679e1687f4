#pragma once
// The engine's front door for state transitions (Temporal's history service).
//
// Each method turns one input (a start, a completed task, a fired timer, a signal,
// a timeout) into one transition, written in ONE store transaction:
//   Load    the rows the input reads (engine/transitions/inputs.h names them);
//   Decide  a pure function of the input and those rows, giving a Transition value:
//           history events, execution rows, tasks, timers, and effects;
//   Apply   the one function that writes a Transition (engine/transitions/apply.h).
// Effects on this process (handing an eagerly leased task to a local worker, waking
// pollers and the timer service, close hooks) are applied once, after the commit.
// A transition the store runs again (its batch rolled back) is decided again; the
// dispatch slots the dropped one held go back with it.
//
// Transient store errors (locked database, full disk, version conflict) are retried
// here with backoff; callers see them only when retries run out. Thread-safe.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/json.h"
#include "engine/matcher.h"
#include "engine/payload.h"
#include "persistence/store.h"
#include "proto/history.pb.h"

namespace keel {
namespace transitions {
struct Input;
struct Options;
struct Transition;
}  // namespace transitions

inline constexpr int64_t kDefaultMaxHistoryEvents = 50'000;

struct HistoryServiceOptions {
  std::string identity;  // lease owner name of this process
  Millis workflow_task_timeout = 10'000;
  int max_transient_retries = 50;  // per transition, ~30 s in all
  // A run whose history grows past this is terminated (failure HistoryLimitExceeded).
  int64_t max_history_events = kDefaultMaxHistoryEvents;
};

struct StartWorkflowRequest {
  std::string workflow_id;
  std::string workflow_type;
  std::string task_queue;
  json::value input;
  proto::WorkflowIdReusePolicy reuse_policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE;
  std::string identity;
};

struct StartWorkflowResult {
  std::string run_id;
  bool started = false;  // false: the id was already running and this is that run
};

// Reset: a new run of the workflow id replays the old run's history up to the
// workflow task that completed at `event_id` and decides again from there (that task
// and everything after it are dropped; signals and cancel requests received after it
// are re-applied). The old run, if still running, is terminated.
struct ResetRequest {
  std::string workflow_id;
  std::string run_id;    // empty: the current run (which must be the id's latest)
  int64_t event_id = 0;  // a workflow_task_completed event; 0: the last one
  std::string reason;
  std::string identity;
};

struct WorkflowDescription {
  persistence::ExecutionRow execution;
  std::vector<persistence::TaskRow> pending_tasks;
};

class HistoryService {
 public:
  using Done = std::function<void(const Status&)>;

  HistoryService(persistence::Store* store, Matcher* matcher, HistoryServiceOptions options);
  ~HistoryService();

  // ---- Client API (blocking) ----
  Result<StartWorkflowResult> StartWorkflow(const StartWorkflowRequest& req);
  // `request_id` makes a repeated call apply once (empty: a fresh one per call).
  Status SignalWorkflow(const std::string& workflow_id, const std::string& signal_name,
                        const json::value& input, const std::string& identity,
                        const std::string& request_id = "");
  Status RequestCancelWorkflow(const std::string& workflow_id, const std::string& reason,
                               const std::string& identity, const std::string& request_id = "");
  Status TerminateWorkflow(const std::string& workflow_id, const std::string& reason,
                           const std::string& identity);
  // Returns the new run's id. Errors: workflow_not_found, reset_point_invalid (not a
  // workflow_task_completed event, or a child workflow is open there), workflow_running
  // (a newer run of the id is running).
  Result<std::string> ResetWorkflow(const ResetRequest& req);
  // The whole history of workflow_id's current run (or the given run).
  Result<proto::History> ReadRunHistory(const std::string& workflow_id,
                                        const std::string& run_id = "");
  // The current run of workflow_id (or the given run), with its pending tasks.
  Result<WorkflowDescription> Describe(const std::string& workflow_id,
                                       const std::string& run_id = "");

  // ---- Worker API (asynchronous; `done` runs after the commit) ----
  // `seen_through` is the last history event the worker applied.
  // `appended`, if given, receives the events this completion appended to the run
  // (valid when `done` runs with OK), so a worker's cached instance can apply them
  // without reading them back.
  void CompleteWorkflowTask(const persistence::TaskRow& task, int64_t seen_through,
                            std::vector<proto::Command> commands, Done done,
                            std::shared_ptr<std::vector<proto::HistoryEvent>> appended = nullptr);
  // No history is written: the failure is recorded on the execution and the task
  // is offered again after a backoff.
  void FailWorkflowTask(const persistence::TaskRow& task, const proto::Failure& failure, Done done);
  void CompleteActivity(const persistence::TaskRow& task, const json::value& result, Done done);
  void FailActivity(const persistence::TaskRow& task, const proto::Failure& failure, Done done);
  Status HeartbeatActivity(const persistence::TaskRow& task, const json::value& details);
  // A poll: leases up to `limit` ready tasks to this process (Store::PollTasks).
  Result<std::vector<persistence::TaskRow>> LeaseTasks(const std::string& queue,
                                                       persistence::TaskKind kind, int limit);

  // Retention: deletes up to `limit` runs that closed more than `retention` ago.
  // Returns how many went.
  Result<int64_t> DeleteExpiredRuns(Millis retention, int limit);

  // ---- Timer service API ----
  void FireTimer(const persistence::TimerRow& timer, Done done);
  void HandleTaskDeadline(int64_t task_id, Done done);
  // `task` is leased by a process that is gone (engine/lease_owners.h): taken back now.
  void HandleLostLease(const persistence::TaskRow& task, Done done);

  // Called with the earliest time something new waits for (timer, deadline, backoff).
  void SetWakeHook(std::function<void(Millis)> hook) { wake_hook_ = std::move(hook); }
  // Adds a function called after the commit of every transition that closed a run
  // (on the committing thread: keep it short). Hooks stay for the service's life.
  void AddCloseHook(std::function<void(const persistence::ExecutionRow&)> hook) {
    std::lock_guard<std::mutex> l(close_mu_);
    close_hooks_.push_back(std::move(hook));
  }
  // Transitions submitted and not yet finished. The destructor waits for zero, so
  // the store must outlive this service.
  int64_t in_flight() const { return in_flight_.load(); }
  persistence::Store* store() const { return store_; }
  const std::string& identity() const { return options_.identity; }

  // Told how a transition ended, with the Transition that committed (moot, or empty,
  // when the status is not OK).
  using Finish = std::function<void(const Status&, transitions::Transition&)>;

 private:
  using InputPtr = std::shared_ptr<const transitions::Input>;
  void Run(InputPtr in, Finish finish, int attempt = 0);
  void Run(transitions::Input in, Done done);
  // Waits for the transition; returns it when it committed.
  Result<std::shared_ptr<transitions::Transition>> RunSync(transitions::Input in);
  Status Decide(persistence::Txn& txn, const transitions::Input& in, transitions::Transition& out);
  void Finished(const Status& s, transitions::Transition& t, const Finish& finish);
  void RetryLater(Millis delay, InputPtr in, Finish finish, int attempt);
  void RetryLoop();
  struct PendingRetry {
    InputPtr in;
    Finish finish;
    int attempt;
  };

  persistence::Store* store_;
  Matcher* matcher_;
  HistoryServiceOptions options_;
  std::unique_ptr<const transitions::Options> transition_options_;
  std::function<void(Millis)> wake_hook_;
  std::mutex close_mu_;
  std::vector<std::function<void(const persistence::ExecutionRow&)>> close_hooks_;
  std::atomic<int64_t> in_flight_{0};

  std::mutex retry_mu_;
  std::condition_variable retry_cv_;
  std::multimap<std::chrono::steady_clock::time_point, PendingRetry> retries_;
  bool stopping_ = false;
  std::thread retry_thread_;
};

}  // namespace keel
