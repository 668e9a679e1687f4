// An operator resets a run: a new run replays the old one's history up to a completed
// workflow task and decides again from there.
#include <set>

#include "engine/history_events.h"
#include "engine/transitions/inputs.h"

namespace keel::transitions {
namespace {

Status ResetPointInvalid(const std::string& why) {
  return Status::FailedPrecondition(why, "reset_point_invalid");
}

int64_t LastCompletedTask(const std::vector<proto::HistoryEvent>& history) {
  int64_t point = 0;
  for (const auto& e : history) {
    if (e.has_workflow_task_completed()) point = e.event_id();
  }
  return point;
}

// Records what the prefix leaves open; returns the child ids still open.
std::set<std::string> ScanPrefix(ResetPlan& plan) {
  std::set<std::string> kids;
  for (const auto& e : plan.prefix) {
    if (e.has_activity_task_scheduled()) {
      plan.activities[e.activity_task_scheduled().activity_id()] = e.activity_task_scheduled();
    } else if (e.has_activity_task_completed()) {
      plan.activities.erase(e.activity_task_completed().activity_id());
    } else if (e.has_activity_task_failed()) {
      plan.activities.erase(e.activity_task_failed().activity_id());
    } else if (e.has_activity_task_timed_out()) {
      plan.activities.erase(e.activity_task_timed_out().activity_id());
    } else if (e.has_activity_task_canceled()) {
      plan.activities.erase(e.activity_task_canceled().activity_id());
    } else if (e.has_timer_started()) {
      plan.timers[e.timer_started().timer_id()] = e.timer_started();
    } else if (e.has_timer_fired()) {
      plan.timers.erase(e.timer_fired().timer_id());
    } else if (e.has_timer_canceled()) {
      plan.timers.erase(e.timer_canceled().timer_id());
    } else if (e.has_child_workflow_execution_initiated()) {
      kids.insert(e.child_workflow_execution_initiated().child_id());
      plan.children_started += 1;
    } else if (e.has_child_workflow_execution_completed()) {
      kids.erase(e.child_workflow_execution_completed().child_id());
    } else if (e.has_child_workflow_execution_failed()) {
      kids.erase(e.child_workflow_execution_failed().child_id());
    } else if (e.has_start_child_workflow_execution_failed()) {
      kids.erase(e.start_child_workflow_execution_failed().child_id());
    }
  }
  return kids;
}

// The new run: the prefix, a failed workflow task that says why, the inputs re-applied,
// and the activities and timers open at the cut.
void CreateResetRun(Tx& tx, const ResetPlan& plan) {
  const Millis now = tx.Now();
  const ExecutionRow& old = plan.old;
  ExecutionRow exec;
  exec.workflow_id = old.workflow_id;
  exec.run_id = plan.new_run_id;
  exec.workflow_type = old.workflow_type;
  exec.task_queue = old.task_queue;
  exec.start_time = now;
  exec.parent = old.parent;
  exec.parent_run_id = old.parent_run_id;
  exec.children = plan.children_started;
  exec.next_event_id = static_cast<int64_t>(plan.prefix.size()) + 1;
  std::vector<proto::HistoryEvent> history = plan.prefix;
  auto* started = history[0].mutable_workflow_execution_started();
  started->set_run_id(plan.new_run_id);
  started->set_reset_from_run_id(old.run_id);
  started->set_reset_event_id(plan.point);
  EventWriter w(exec, now);
  auto* failed = w.Add()->mutable_workflow_task_failed();
  failed->mutable_failure()->set_type("Reset");
  failed->mutable_failure()->set_message(plan.why);
  failed->set_identity(plan.identity);
  for (const auto& in : plan.reapply) {
    auto* e = w.Add();
    const int64_t id = e->event_id();
    *e = in;
    e->set_event_id(id);
    e->set_event_time_ms(now);
  }
  ScheduleWorkflowTask(tx, exec, w);
  for (const auto& [id, a] : plan.activities) CreateActivityTask(tx, exec, a);
  for (const auto& [id, t] : plan.timers) {
    TimerRow row{0, exec.workflow_id, plan.new_run_id, id, std::max(t.fire_at_ms(), now)};
    tx.InsertTimer(row);
    tx.fx().Wake(row.fire_at);
  }
  history.insert(history.end(), w.events().begin(), w.events().end());
  exec.version = 1;
  tx.fx().started.push_back(exec.workflow_type);
  tx.InsertExecution(exec);
  tx.AppendHistory(plan.new_run_id, history);
}

}  // namespace

Result<ResetPlan> PlanReset(const ExecutionRow& old,
                            const std::vector<proto::HistoryEvent>& history, int64_t event_id,
                            std::string new_run_id, const std::string& reason,
                            std::string identity) {
  ResetPlan plan;
  plan.old = old;
  plan.history_size = static_cast<int64_t>(history.size());
  plan.point = event_id != 0 ? event_id : LastCompletedTask(history);
  if (plan.point == 0) return ResetPointInvalid("no workflow task of this run has completed yet");
  const int64_t point = plan.point;
  if (point < 3 || point > plan.history_size || !history[point - 1].has_workflow_task_completed() ||
      !history[point - 2].has_workflow_task_started()) {
    std::string what = point >= 1 && point <= plan.history_size ? EventTypeName(history[point - 1])
                                                                : std::string("no event");
    return Status::InvalidArgument("event " + std::to_string(point) + " is " + what +
                                       "; reset to a workflow_task_completed event (see "
                                       "`keel workflow history`)",
                                   "reset_point_invalid");
  }
  // Keep everything before the task's WorkflowTaskStarted; that task runs again.
  plan.prefix.assign(history.begin(), history.begin() + (point - 2));
  auto open_children = ScanPrefix(plan);
  if (!open_children.empty()) {
    return ResetPointInvalid("child workflow " + *open_children.begin() + " is open at event " +
                             std::to_string(point) +
                             "; reset to a point before it started or after it closed");
  }
  for (size_t i = plan.prefix.size(); i < history.size(); ++i) {
    if (history[i].has_workflow_execution_signaled() ||
        history[i].has_workflow_execution_cancel_requested()) {
      plan.reapply.push_back(history[i]);
    }
  }
  plan.new_run_id = std::move(new_run_id);
  plan.why = "reset to event " + std::to_string(point) + " as run " + plan.new_run_id +
             (reason.empty() ? "" : ": " + reason);
  plan.identity = std::move(identity);
  return plan;
}

Input Reset(ResetPlan plan) {
  Input in{"reset", {}, nullptr};
  in.reads.runs.insert(plan.old.run_id);
  in.reads.workflows.insert(plan.old.workflow_id);
  in.decide = [plan = std::move(plan)](Tx& tx) -> Status {
    const ExecutionRow& old = plan.old;
    KEEL_ASSIGN_OR_RETURN(ExecutionRow cur, LoadRun(tx, old.run_id));
    if (cur.next_event_id - 1 != plan.history_size) {
      return Status::FailedPrecondition("the run moved on while it was read", "reset_raced");
    }
    KEEL_ASSIGN_OR_RETURN(auto current, tx.GetCurrentRunId(old.workflow_id));
    if (current && *current != old.run_id) {
      KEEL_ASSIGN_OR_RETURN(ExecutionRow newer, LoadRun(tx, *current));
      if (newer.status == ExecutionStatus::kRunning) {
        return Status::FailedPrecondition("workflow '" + old.workflow_id + "' has a newer run (" +
                                              newer.run_id + ") that is running",
                                          "workflow_running");
      }
    }
    if (cur.status == ExecutionStatus::kRunning) {
      KEEL_RETURN_IF_ERROR(
          TerminateRun(tx, cur, plan.why, plan.identity, /*report_to_parent=*/false));
    }
    CreateResetRun(tx, plan);
    tx.transition().reply.run_id = plan.new_run_id;
    tx.transition().reply.started = true;
    return Status::Ok();
  };
  return in;
}

}  // namespace keel::transitions
