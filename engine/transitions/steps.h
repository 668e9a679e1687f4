#pragma once
// The steps transitions share: numbering a run's new events, scheduling its workflow
// task, writing a run, closing one (with its children's close policy and the report
// to its parent), starting one, and an activity attempt's retry or final failure.
// All of them work on a Tx (transition.h): reads and writes as values, no I/O.

#include <optional>
#include <string>
#include <vector>

#include "engine/transitions/transition.h"

namespace keel::transitions {

using persistence::ExecutionStatus;

// Events appended by one transition to one run, numbered from its next event id.
class EventWriter {
 public:
  EventWriter(ExecutionRow& exec, Millis now) : exec_(exec), now_(now) {}
  proto::HistoryEvent* Add() {
    auto& e = events_.emplace_back();
    e.set_event_id(exec_.next_event_id++);
    e.set_event_time_ms(now_);
    return &e;
  }
  const std::vector<proto::HistoryEvent>& events() const { return events_; }

 private:
  ExecutionRow& exec_;
  Millis now_;
  std::vector<proto::HistoryEvent> events_;
};

// Reads.
Result<ExecutionRow> LoadRun(Tx& tx, const std::string& run_id);
Result<ExecutionRow> LoadCurrent(Tx& tx, const std::string& workflow_id);
// The current run of workflow_id, which must still be running (workflow_closed).
Result<ExecutionRow> LoadRunning(Tx& tx, const std::string& workflow_id);
// The task as stored, if the worker that sent `mine` still holds its lease (stale_task).
Result<TaskRow> CheckLease(Tx& tx, const TaskRow& mine);
Status StaleTask(const TaskRow& t);

// Schedules the run's workflow task unless one is scheduled or running already.
void ScheduleWorkflowTask(Tx& tx, ExecutionRow& exec, EventWriter& w);
// Writes the events and the execution row. A run whose history passes the limit is
// terminated in the same transition.
Status CommitRun(Tx& tx, ExecutionRow& exec, int64_t expected_version, EventWriter& w);
// Closes the run: status, close time, no more tasks or timers; its open children get
// their parent close policy, and a child reports how it ended to its parent (unless
// `report_to_parent` is false: the parent is the one closing).
Status CloseRun(Tx& tx, ExecutionRow& exec, ExecutionStatus status, bool report_to_parent = true);
// Appends a cancel request to a running run and wakes its code.
Status RequestCancelRun(Tx& tx, ExecutionRow exec, const std::string& reason,
                        const std::string& identity);
// Ends a running run at once, without its code's say.
Status TerminateRun(Tx& tx, ExecutionRow exec, const std::string& reason,
                    const std::string& identity, bool report_to_parent);

struct NewRun {
  std::string workflow_id, workflow_type, task_queue, run_id, continued_from;
  proto::Payload input;
  uint64_t seed = 0;
  std::string parent;  // serialized proto::ParentInfo; empty for a top-level run
};
void CreateRun(Tx& tx, const NewRun& r);
// Why a new run of prev's workflow id may not start, if it may not.
std::optional<Status> RefuseStart(const ExecutionRow& prev, proto::WorkflowIdReusePolicy policy);

// The task that runs a scheduled activity's first attempt, from now.
void CreateActivityTask(Tx& tx, const ExecutionRow& exec, const proto::ActivityTaskScheduled& a);
// A workflow task whose worker died or stalled goes back to its queue, visible now.
void OfferWorkflowTaskAgain(Tx& tx, TaskRow task);
// Retries the activity attempt, or records its final failure and wakes the workflow.
Status RetryOrFailActivity(Tx& tx, TaskRow task, const proto::Failure& failure, bool timed_out,
                           bool was_started);

}  // namespace keel::transitions
