#pragma once
// The Store: everything Keel's engine keeps durable. One backend per folder
// (persistence/sqlite, persistence/postgres); only main() picks one.
//
// Contract (every backend, checked by tests/persistence/store_conformance_test.cc):
// - Submit() runs a TxnFn inside one database transaction. Several calls may share
//   a transaction (group commit). A TxnFn that returns an error has only its own
//   writes undone: SQLite wraps each TxnFn in a savepoint; PostgreSQL rolls the
//   whole batch back and runs the other TxnFns again in a new batch.
// - So a TxnFn MAY RUN MORE THAN ONCE. It must be a function of what it reads, and
//   must not change process state: collect effects, and act on them in `done`.
// - `done` is called once, after the commit is durable (or with the error that
//   stopped it). Nothing a TxnFn wrote is visible to readers, or reported to
//   anyone, before that.
// - UpdateExecution() is an optimistic write: it fails with kConditionFailed unless
//   the stored version equals `expected_version`, and stores version+1.
// - Transient failures (locked database, lost connection) are kUnavailable;
//   a full disk is kResourceExhausted. Neither leaves a partial write.
// - All methods are thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "proto/history.pb.h"

namespace keel::persistence {

// Persisted as an integer: never renumber.
enum class ExecutionStatus : int32_t {
  kRunning = 1,
  kCompleted = 2,
  kFailed = 3,
  kCancelled = 4,
  kTerminated = 5,
  kContinuedAsNew = 6,
  kTimedOut = 7,
};
const char* ExecutionStatusName(ExecutionStatus s);
std::optional<ExecutionStatus> ParseExecutionStatus(std::string_view name);

struct ExecutionRow {
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string task_queue;
  ExecutionStatus status = ExecutionStatus::kRunning;
  int64_t version = 0;        // optimistic concurrency; bumped by every update
  int64_t next_event_id = 1;  // the id the next appended event gets
  int64_t wt_task_id = 0;     // the scheduled workflow task, 0 when none
  Millis start_time = 0;
  Millis close_time = 0;
  std::string result;      // serialized proto::Payload once completed
  std::string failure;     // serialized proto::Failure once failed
  std::string wt_failure;  // last workflow task failure (serialized proto::Failure)
  // Child runs only: the parent's run id, and the serialized proto::ParentInfo.
  // Written at insert and never changed.
  std::string parent_run_id;
  std::string parent;
  int64_t children = 0;  // child runs this run started (0: no need to look for any)
};

// Persisted as an integer: never renumber.
enum class TaskKind : int32_t { kWorkflow = 1, kActivity = 2 };

struct TaskRow {
  int64_t id = 0;
  std::string queue;
  TaskKind kind = TaskKind::kWorkflow;
  std::string workflow_id;
  std::string run_id;
  std::string activity_id;  // activity tasks only
  int32_t attempt = 1;
  Millis visible_at = 0;    // not handed out before this time (retry backoff)
  std::string lease_owner;  // empty when not leased
  int64_t lease_token = 0;  // bumped by every lease; fences stale completions
  Millis lease_expires = 0;
  Millis lease_ms = 0;        // how long a lease lasts when this task is taken
  Millis started_at = 0;      // when the current lease began
  Millis start_deadline = 0;  // schedule-to-start, absolute; 0 = none
  Millis close_deadline = 0;  // schedule-to-close, absolute; 0 = none
  Millis deadline = 0;        // derived by ComputeTaskDeadline; read by the timer service
  std::string info;           // serialized proto::ActivityTaskInfo (activity tasks)
  // Not stored. On a workflow task handed over eagerly: the events the transition that
  // created it appended to the run, so the worker may skip reading them back.
  std::shared_ptr<const std::vector<proto::HistoryEvent>> events;
};

// The one rule for when the timer service must look at a task: the lease end while
// leased, the schedule-to-start deadline while waiting, and the schedule-to-close
// deadline always; 0 when none applies.
Millis ComputeTaskDeadline(const TaskRow& row);

struct TimerRow {
  int64_t id = 0;
  std::string workflow_id;
  std::string run_id;
  std::string timer_id;
  Millis fire_at = 0;
};

struct ListFilter {
  std::string workflow_type;              // empty = any
  std::string workflow_id_prefix;         // empty = any
  std::optional<ExecutionStatus> status;  // unset = any
  Millis start_after = 0;                 // start_time >= this
  Millis start_before = 0;                // 0 = no bound
  std::string cursor;                     // opaque, from a previous page
  int limit = 100;
};

struct ListPage {
  std::vector<ExecutionRow> rows;
  std::string next_cursor;  // empty at the end
};

struct QueueStats {
  std::string queue;
  int64_t ready = 0;  // visible and not leased
  int64_t leased = 0;
  int64_t delayed = 0;  // waiting for a retry backoff
  Millis oldest_ready_at = 0;
};

// A worker pool that polls a queue: its process's engine identity and when it last
// said so (Store::RecordPoller).
struct PollerRow {
  std::string queue;
  TaskKind kind = TaskKind::kWorkflow;
  std::string identity;
  Millis last_poll_at = 0;
};

// One transaction's view. Only valid inside the TxnFn it was passed to.
class Txn {
 public:
  virtual ~Txn() = default;
  virtual Millis Now() const = 0;
  virtual Result<std::optional<ExecutionRow>> GetExecution(std::string_view run_id) = 0;
  virtual Result<std::optional<std::string>> GetCurrentRunId(std::string_view workflow_id) = 0;
  // Inserts the run and makes it the workflow id's current run.
  virtual Status InsertExecution(const ExecutionRow& row) = 0;
  virtual Status UpdateExecution(const ExecutionRow& row, int64_t expected_version) = 0;
  // Appends events, which must continue the run's history without a gap. Events that
  // are there already: kConditionFailed "version_conflict" (a stale writer).
  virtual Status AppendHistory(std::string_view run_id,
                               const std::vector<proto::HistoryEvent>& events) = 0;
  virtual Result<int64_t> InsertTask(const TaskRow& row) = 0;
  virtual Result<std::optional<TaskRow>> GetTask(int64_t id) = 0;
  virtual Status UpdateTask(const TaskRow& row) = 0;
  virtual Status DeleteTask(int64_t id) = 0;
  virtual Result<std::optional<TaskRow>> FindActivityTask(std::string_view run_id,
                                                          std::string_view activity_id) = 0;
  virtual Status DeleteTasksOfRun(std::string_view run_id) = 0;
  // Leases up to `limit` visible, unleased tasks of `queue` and `kind`, oldest first.
  virtual Result<std::vector<TaskRow>> LeaseTasks(std::string_view queue, TaskKind kind,
                                                  std::string_view owner, Millis lease_ms,
                                                  int limit) = 0;
  virtual Result<int64_t> InsertTimer(const TimerRow& row) = 0;
  // Returns false when the timer is already gone (fired or cancelled elsewhere).
  virtual Result<bool> DeleteTimer(int64_t id) = 0;
  virtual Result<bool> DeleteTimerByName(std::string_view run_id, std::string_view timer_id) = 0;
  virtual Status DeleteTimersOfRun(std::string_view run_id) = 0;
  // Records a client request id for the run; false if it was recorded before. Makes
  // client transitions (signals, cancel requests) safe to retry after a commit whose
  // outcome was lost with the connection.
  virtual Result<bool> InsertRequestId(std::string_view run_id, std::string_view request_id) = 0;
  // Deletes up to `limit` runs that closed before `closed_before`, oldest first: their
  // rows, histories and request ids (and the workflow id's current-run pointer when it
  // points at them). Returns how many were deleted. Retention of closed workflows.
  virtual Result<int64_t> DeleteClosedRuns(Millis closed_before, int limit) = 0;
  // The running child runs of a parent run, including ones inserted in this transaction.
  virtual Result<std::vector<ExecutionRow>> ListOpenChildren(std::string_view parent_run_id) = 0;
};

// Cross-process notifications, for backends that have them (PostgreSQL LISTEN/NOTIFY).
// Called on a store thread, after the commit of another (or this) process's transaction.
struct StoreListeners {
  // A task became ready on `queue` (an unleased task was created).
  std::function<void(TaskKind kind, const std::string& queue)> task_ready;
  // A run closed.
  std::function<void(const std::string& workflow_id, const std::string& run_id)> run_closed;
};

// What a TxnFn will read first, so that a backend may fetch it for a whole batch in
// one round trip. Only a hint: the TxnFn reads the same whether or not it was followed.
struct ReadHint {
  int64_t task_id = 0;      // a task it reads with GetTask (and the task's run); 0 = none
  std::string run_id;       // a run it reads with GetExecution; empty = none
  std::string workflow_id;  // a workflow id whose current run it reads; empty = none
};

class Store {
 public:
  using TxnFn = std::function<Status(Txn&)>;
  using DoneFn = std::function<void(const Status&)>;
  virtual ~Store() = default;

  // See the file comment. `done` runs on a store thread: keep it short.
  virtual void Submit(TxnFn fn, DoneFn done, ReadHint hint) = 0;
  void Submit(TxnFn fn, DoneFn done) { Submit(std::move(fn), std::move(done), ReadHint{}); }
  // Submit and wait.
  Status Transact(TxnFn fn);
  // A worker's poll: leases up to `limit` ready tasks of `queue` and `kind` to `owner`,
  // oldest first, as a step of its own (not in a batch with other transitions), with
  // the same lease fields as Txn::LeaseTasks. The default looks first (HasReadyTasks)
  // and then runs Txn::LeaseTasks in a transaction.
  virtual Result<std::vector<TaskRow>> PollTasks(std::string_view queue, TaskKind kind,
                                                 std::string_view owner, int limit);

  // Snapshot reads; never block writers for long.
  virtual Result<std::optional<ExecutionRow>> ReadExecution(std::string_view run_id) = 0;
  virtual Result<std::optional<ExecutionRow>> ReadCurrentExecution(
      std::string_view workflow_id) = 0;
  // Events with id >= from_event_id, in order. kFailedPrecondition with reason
  // "history_format_too_new" if a batch was written by a newer binary.
  virtual Result<std::vector<proto::HistoryEvent>> ReadHistory(std::string_view run_id,
                                                               int64_t from_event_id) = 0;
  // The first event (workflow_execution_started) of each of `run_ids` that has a
  // history, in one read: for tools that look at many runs at once (the audit).
  virtual Result<std::map<std::string, proto::HistoryEvent>> ReadStartEvents(
      const std::vector<std::string>& run_ids) = 0;
  virtual Result<ListPage> ListExecutions(const ListFilter& filter) = 0;
  virtual Result<std::vector<TaskRow>> ListTasksOfRun(std::string_view run_id) = 0;
  // Up to `limit` tasks of `queue` (both kinds), the next to be handed out first.
  virtual Result<std::vector<TaskRow>> ListQueueTasks(std::string_view queue, int limit) = 0;
  // Up to `limit` leased tasks (lease_owner set), of every queue and owner.
  virtual Result<std::vector<TaskRow>> ListLeasedTasks(int limit) = 0;
  virtual Result<std::vector<TimerRow>> DueTimers(Millis now, int limit) = 0;
  virtual Result<std::vector<TaskRow>> DueTaskDeadlines(Millis now, int limit) = 0;
  // Earliest time anything waits for: a timer, a task deadline, or a delayed task
  // becoming visible (only future ones). nullopt when nothing waits.
  virtual Result<std::optional<Millis>> NextWakeTime() = 0;
  // Whether some task of `queue` and `kind` is visible and unleased now.
  virtual Result<bool> HasReadyTasks(std::string_view queue, TaskKind kind) = 0;
  virtual Result<std::vector<QueueStats>> QueueStatistics() = 0;
  // Durable timers not yet fired.
  virtual Result<int64_t> CountTimers() = 0;
  // How many runs match `filter` (its status, cursor and limit are ignored), by status.
  // A scan of the matching runs: for operators, not for hot paths.
  virtual Result<std::map<ExecutionStatus, int64_t>> CountExecutions(const ListFilter& filter) = 0;

  // Pollers: `identity` serves `queue` for `kind` tasks now. Each worker pool says so
  // every kPollerHeartbeatMs; rows silent for kPollerForgetMs are deleted by the next
  // write. Not part of any saga's durability: a lost write is repaired by the next.
  static constexpr Millis kPollerHeartbeatMs = 5000;
  static constexpr Millis kPollerForgetMs = 10 * 60 * 1000;
  virtual Status RecordPoller(std::string_view queue, TaskKind kind, std::string_view identity) = 0;
  // Pollers heard from at or after `since`, by queue, kind and identity.
  virtual Result<std::vector<PollerRow>> ListPollers(Millis since) = 0;

  // The schema version this store is at.
  virtual Result<int> SchemaVersion() = 0;
  // Installs cross-process listeners, replacing the ones before; a no-op for backends
  // without notifications (SQLite: processes sharing a data dir find each other's work
  // by polling). When it returns, no call of the old listeners is running or will
  // start, so their owner may go (SetListeners({}) before destroying it).
  virtual void SetListeners(StoreListeners listeners) { (void)listeners; }
  virtual Clock* clock() const = 0;
};

// A backend's write counters in /metrics, labelled store="sqlite"|"postgres":
//   keel_store_commits_total       database transactions committed
//   keel_store_transactions_total  TxnFns those commits carried (group commit)
//   keel_store_rollbacks_total     batches rolled back for a TxnFn's sake; the
//                                  others in the batch ran again
struct StoreCounters {
  Counter& commits;
  Counter& transactions;
  Counter& rollbacks;
  Counter& checkpoints;  // WAL checkpoints run (SQLite)
  static StoreCounters& For(const std::string& store);
};

}  // namespace keel::persistence
