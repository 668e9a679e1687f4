#pragma once
// The inputs of the engine, one Decide each (Temporal's history service has a handler
// per request). An Input names the rows it reads first, so a store's batch may fetch
// them for many transitions in one round trip, and a Decide: a function of a Tx (the
// Snapshot, ids and options, transition.h) that records one Transition.
//
// Each Decide lives in its own file under engine/transitions/inputs/; the commands a
// completed workflow task carries have a handler each (commands/commands.h).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/transitions/steps.h"

namespace keel::transitions {

struct Input {
  const char* kind = "";  // names the input in logs
  Reads reads;            // read before Decide runs
  std::function<Status(Tx&)> decide;
};

// A new run, unless the id is running (the reply names that run, started = false) or
// its reuse policy forbids one (workflow_already_started, workflow_id_reuse_rejected).
Input Start(NewRun run, proto::WorkflowIdReusePolicy policy);
// Inputs to the workflow id's running run (workflow_not_found, workflow_closed), applied
// once per request id.
Input Signal(std::string workflow_id, std::string name, proto::Payload payload,
             std::string identity, std::string request_id);
Input RequestCancel(std::string workflow_id, std::string reason, std::string identity,
                    std::string request_id);
Input Terminate(std::string workflow_id, std::string reason, std::string identity);

// A reset (see ResetRequest in engine/history_service.h), planned from the old run's
// history as read before the transition. If the run moved on since, Decide fails
// with reset_raced and the caller plans again.
struct ResetPlan {
  ExecutionRow old;
  int64_t history_size = 0;                  // events the plan was made from
  int64_t point = 0;                         // the workflow_task_completed event reset to
  std::vector<proto::HistoryEvent> prefix;   // kept: everything before that task started
  std::vector<proto::HistoryEvent> reapply;  // signals and cancel requests after the cut
  // What the prefix leaves open, which the new run recreates.
  std::map<std::string, proto::ActivityTaskScheduled> activities;  // by activity id
  std::map<std::string, proto::TimerStarted> timers;               // by timer id
  int64_t children_started = 0;
  std::string new_run_id, why, identity;
};
// reset_point_invalid: `event_id` (0: the last completed workflow task) is not a
// workflow_task_completed event, or a child workflow is open there.
Result<ResetPlan> PlanReset(const ExecutionRow& old,
                            const std::vector<proto::HistoryEvent>& history, int64_t event_id,
                            std::string new_run_id, const std::string& reason,
                            std::string identity);
Input Reset(ResetPlan plan);

// A worker's reports on the task it holds (stale_task once it holds it no longer).
// A completion whose commands close the run while new events are unseen hands the
// task back instead (outcome unhandled_events); `appended` in the Transition holds
// the events a completion appended to the run.
Input CompleteWorkflowTask(TaskRow task, int64_t seen_through,
                           std::vector<proto::Command> commands);
Input FailWorkflowTask(TaskRow task, proto::Failure failure);
Input CompleteActivity(TaskRow task, proto::Payload result);
Input FailActivity(TaskRow task, proto::Failure failure);
// activity_cancelled once the workflow asked for the activity's cancellation.
Input HeartbeatActivity(TaskRow task, proto::Payload details);

// The timer service's inputs: a due timer (moot when another process fired it), and a
// task whose deadline passed (a workflow task offered again, an activity timed out).
Input FireTimer(TimerRow timer);
Input TaskDeadline(int64_t task_id);
// A task leased by a process that died on this machine (engine/lease_owners.h), taken
// back before its lease runs out: a workflow task is offered again, an activity
// attempt fails with WorkerLost and is retried by its policy. Moot once the task was
// leased again (another owner or token).
Input LeaseLost(int64_t task_id, std::string owner, int64_t lease_token);

// Retention: up to `limit` runs closed more than `retention` ago go (reply.deleted).
Input Retention(Millis retention, int limit);

}  // namespace keel::transitions
