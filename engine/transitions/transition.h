#pragma once
// A state transition as a value. One input (a start, a signal, a completed task, a
// fired timer...) becomes, in three steps:
//
//   Load    the reads it needs, fetched from the store into a Snapshot;
//   Decide  a function of the input and the Snapshot, with no I/O and no process
//           state, that returns a Transition: the writes in order (history appends,
//           execution rows, tasks, timers, request ids) and the effects to run after
//           the commit;
//   Apply   the one function that writes a Transition, on any store (apply.h).
//
// Decide works through a Tx: reads come from the transition's own writes first, then
// the Snapshot. A read the Snapshot does not hold makes Decide stop with NeedRead; Load
// fetches what was asked for and Decide runs again from the start. Running it again is
// harmless: it is pure, and its Transition is a value nobody has acted on.
//
// Effects that touch this process (a dispatch slot for a task handed over without a
// poll, pollers poked, the timer service woken, close hooks) are collected, never
// performed, by Decide. Slots are reserved after Decide (ReserveEagerSlots) and held
// by the Transition: a Transition dropped (its batch rolled back and run again, its
// store call failed) gives them back.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "engine/matcher.h"
#include "persistence/store.h"
#include "proto/history.pb.h"

namespace keel::transitions {

using persistence::ExecutionRow;
using persistence::TaskKind;
using persistence::TaskRow;
using persistence::TimerRow;

// ---- writes --------------------------------------------------------------------
// A task this transition inserts has a provisional id (negative) until Apply inserts
// it; writes that name it (an execution's wt_task_id, a delete) are translated then.

struct InsertRun {
  ExecutionRow row;
};
struct UpdateRun {
  ExecutionRow row;
  int64_t expected_version;
};
struct AppendHistory {
  std::string run_id;
  std::vector<proto::HistoryEvent> events;
};
struct InsertTask {
  TaskRow row;  // row.id is provisional
};
struct UpdateTask {
  TaskRow row;
};
struct DeleteTask {
  int64_t id;
};
struct ClearRun {  // every task and timer of the run
  std::string run_id;
};
struct InsertTimer {
  TimerRow row;
};
// Firing a timer deletes it; if it is gone already (another process fired it), the
// whole transition is moot and Apply says so (kTimerGone).
struct DeleteTimer {
  int64_t id;
};
struct DeleteTimerByName {
  std::string run_id, timer_id;
};
// A client request applied once per run; if it was recorded already (a retry whose
// first answer was lost), the whole transition is moot (kRequestSeen).
struct InsertRequestId {
  std::string run_id, request_id;
};
struct DeleteClosedRuns {
  Millis closed_before;
  int limit;
};

using Write =
    std::variant<InsertRun, UpdateRun, AppendHistory, InsertTask, UpdateTask, DeleteTask, ClearRun,
                 InsertTimer, DeleteTimer, DeleteTimerByName, InsertRequestId, DeleteClosedRuns>;

// Why a write found the transition moot. Such a write must be the transition's first,
// so that Apply stops before anything was written: it marks the Transition moot,
// drops its effects and succeeds.
inline constexpr const char* kTimerGone = "timer_gone";
inline constexpr const char* kRequestSeen = "request_seen";

// ---- effects -------------------------------------------------------------------

// A dispatch slot reserved in this process's Matcher for a task written leased to it.
// Given back when dropped, unless the task was delivered. Move-only.
class Slot {
 public:
  Slot(Matcher* m, TaskKind kind, std::string queue)
      : m_(m), kind_(kind), queue_(std::move(queue)) {}
  Slot(Slot&& o) noexcept : m_(std::exchange(o.m_, nullptr)), kind_(o.kind_), queue_(o.queue_) {}
  Slot& operator=(Slot&& o) noexcept;
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;
  ~Slot();
  void Deliver(const TaskRow& task);

 private:
  Matcher* m_;
  TaskKind kind_;
  std::string queue_;
};

struct Effects {
  std::vector<TaskRow> eager;  // leased to this process: hand to local workers
  std::vector<Slot> slots;     // one per eager task, in the same order
  std::vector<std::pair<TaskKind, std::string>> notify;  // queues with new waiting tasks
  Millis wake = 0;                                       // earliest new timer or deadline
  std::vector<ExecutionRow> closed;                      // runs this transition closed
  std::vector<std::string> started;                      // types of runs it started
  void Wake(Millis t) {
    if (t > 0 && (wake == 0 || t < wake)) wake = t;
  }
};

// What the caller is told besides the Status.
struct Reply {
  std::string run_id;    // a start: the run it made, or the one already running
  bool started = false;  // a start: whether it made that run
  int64_t deleted = 0;   // retention: runs deleted (set by Apply)
};

struct Transition {
  std::vector<Write> writes;
  Effects fx;
  Reply reply;
  bool moot = false;  // Apply found it applied before (kTimerGone, kRequestSeen)
  // The events appended to the run a workflow task completion was about (the worker
  // applies them to its cached instance).
  std::vector<proto::HistoryEvent> appended;
  // Not an error for the store, but what the caller is told after the commit (the
  // workflow task that must run again because inputs were unseen).
  Status outcome;
};

// ---- reads ---------------------------------------------------------------------

// What Decide asked for and Load fetches.
struct Reads {
  std::set<std::string> runs;       // executions by run id
  std::set<std::string> workflows;  // current run id by workflow id (and that run)
  std::set<int64_t> tasks;          // tasks by id (and their run)
  std::set<std::pair<std::string, std::string>> activity_tasks;  // (run id, activity id)
  std::set<std::string> children;                                // open child runs by parent run id
  bool empty() const {
    return runs.empty() && workflows.empty() && tasks.empty() && activity_tasks.empty() &&
           children.empty();
  }
};

// The rows a transition's Decide may read, loaded from the store (or given by a test).
// A row looked up and absent is remembered as absent.
struct Snapshot {
  explicit Snapshot(Millis now) : now(now) {}
  Millis now;
  std::map<std::string, std::optional<ExecutionRow>> runs;
  std::map<std::string, std::optional<std::string>> current;  // workflow id -> run id
  std::map<int64_t, std::optional<TaskRow>> tasks;
  std::map<std::pair<std::string, std::string>, std::optional<TaskRow>> activity_tasks;
  std::map<std::string, std::vector<ExecutionRow>> children;  // open children by parent run
};

// The Status a read returns when the Snapshot lacks what it needs.
inline constexpr const char* kNeedRead = "need_read";
bool IsNeedRead(const Status& s);

// What Decide needs besides the Snapshot: fresh ids (run ids and random seeds are
// inputs too, so Decide stays a function of its arguments) and the service's options.
struct Fresh {
  std::function<std::string(Millis now)> run_id;
  std::function<uint64_t()> seed;
};

struct Options {
  std::string identity;  // this process, as a lease owner
  Millis workflow_task_timeout = 10'000;
  int64_t max_history_events = 50'000;
};

// Decide's view: Txn-shaped reads and writes over a Snapshot, recording a Transition.
// Reads see this transition's own writes first.
class Tx {
 public:
  Tx(const Snapshot& snap, const Options& opts, const Fresh& fresh)
      : snap_(snap), opts_(opts), fresh_(fresh) {}

  Millis Now() const { return snap_.now; }
  const Options& options() const { return opts_; }
  std::string NewRunId() const { return fresh_.run_id(snap_.now); }
  uint64_t NewSeed() const { return fresh_.seed(); }
  Effects& fx() { return t_.fx; }
  Transition& transition() { return t_; }
  const Reads& needed() const { return need_; }
  Transition Take() { return std::move(t_); }

  // Reads (NeedRead when the snapshot does not hold the answer).
  Result<std::optional<ExecutionRow>> GetExecution(const std::string& run_id);
  Result<std::optional<std::string>> GetCurrentRunId(const std::string& workflow_id);
  Result<std::optional<TaskRow>> GetTask(int64_t id);
  Result<std::optional<TaskRow>> FindActivityTask(const std::string& run_id,
                                                  const std::string& activity_id);
  // Running child runs of the parent, including ones this transition started.
  Result<std::vector<ExecutionRow>> ListOpenChildren(const std::string& parent_run_id);

  // Writes.
  void InsertExecution(const ExecutionRow& row);
  void UpdateExecution(const ExecutionRow& row, int64_t expected_version);
  void AppendHistory(const std::string& run_id, const std::vector<proto::HistoryEvent>& events);
  int64_t InsertTask(TaskRow row);  // returns the provisional id
  void UpdateTask(const TaskRow& row);
  void DeleteTask(int64_t id);
  void ClearRun(const std::string& run_id);
  void InsertTimer(const TimerRow& row);
  void DeleteTimer(int64_t id);
  void DeleteTimerByName(const std::string& run_id, const std::string& timer_id);
  void InsertRequestId(const std::string& run_id, const std::string& request_id);
  void DeleteClosedRuns(Millis closed_before, int limit);

 private:
  Status Need();
  const Snapshot& snap_;
  const Options& opts_;
  const Fresh& fresh_;
  Transition t_;
  Reads need_;
  // This transition's own writes, as reads see them.
  std::map<std::string, ExecutionRow> runs_;
  std::map<std::string, std::string> current_;
  std::map<int64_t, std::optional<TaskRow>> tasks_;
  std::set<std::string> cleared_;
  int64_t next_task_id_ = -1;
};

// After Decide: for each task the Transition inserts ready now, a slot in this
// process's matcher if one is free; such a task is written leased to this process and
// handed over after the commit (eager dispatch). The others poke the pollers.
// The slots are held by the Transition (see Slot).
void ReserveEagerSlots(Transition& t, Matcher* matcher, const Options& opts, Millis now);

}  // namespace keel::transitions
