// A worker completes a workflow task: the task's events, then each command by its
// handler (commands/), then what the commands caused, then the next workflow task if
// the code has inputs it has not seen.
#include "engine/transitions/commands/commands.h"
#include "engine/transitions/inputs.h"

namespace keel::transitions {
namespace {

bool Closes(const std::vector<proto::Command>& commands) {
  for (const auto& cmd : commands) {
    const CommandHandler* h = HandlerFor(cmd.attributes_case());
    if (h && h->closes_run) return true;
  }
  return false;
}

// New inputs arrived while the code decided to close: the task goes back (unleased,
// visible now) so the code sees them first.
void HandBack(Tx& tx, TaskRow task) {
  task.lease_owner.clear();
  task.visible_at = tx.Now();
  task.deadline = persistence::ComputeTaskDeadline(task);
  tx.UpdateTask(task);
  tx.fx().notify.emplace_back(task.kind, task.queue);
  tx.transition().outcome = Status::ConditionFailed(
      "the workflow closed while new events were unseen; the task runs again", "unhandled_events");
}

Status Decide(Tx& tx, const TaskRow& task, int64_t seen_through,
              const std::vector<proto::Command>& commands) {
  KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(tx, task));
  KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(tx, task.run_id));
  if (exec.status != ExecutionStatus::kRunning || exec.wt_task_id != task.id) {
    return StaleTask(task);  // (a closed run has no tasks left: CloseRun removed them)
  }
  const int64_t version = exec.version;
  const bool unseen = exec.next_event_id - 1 > seen_through;
  if (unseen && Closes(commands)) {
    HandBack(tx, std::move(cur));
    return Status::Ok();
  }
  EventWriter w(exec, tx.Now());
  auto* started = w.Add()->mutable_workflow_task_started();
  started->set_identity(task.lease_owner);
  started->set_attempt(cur.attempt);
  auto* completed = w.Add()->mutable_workflow_task_completed();
  completed->set_seen_through_event_id(seen_through);
  completed->set_identity(task.lease_owner);
  tx.DeleteTask(task.id);
  exec.wt_task_id = 0;
  exec.wt_failure.clear();
  Completion c{tx, exec, w, {}, std::nullopt};
  for (const auto& cmd : commands) {
    if (exec.status != ExecutionStatus::kRunning) break;  // closed by an earlier command
    KEEL_RETURN_IF_ERROR(HandlerFor(cmd.attributes_case())->apply(c, cmd));
  }
  if (exec.status == ExecutionStatus::kRunning) {
    for (const auto& in : c.inputs) w.Add()->MergeFrom(in);
    if (unseen || !c.inputs.empty()) ScheduleWorkflowTask(tx, exec, w);
  }
  KEEL_RETURN_IF_ERROR(CommitRun(tx, exec, version, w));
  tx.transition().appended = w.events();
  if (c.next) CreateRun(tx, *c.next);
  return Status::Ok();
}

}  // namespace

Input CompleteWorkflowTask(TaskRow task, int64_t seen_through,
                           std::vector<proto::Command> commands) {
  Input in{"workflow_task_completed", {}, nullptr};
  in.reads.tasks.insert(task.id);
  in.decide = [task = std::move(task), seen_through, commands = std::move(commands)](
                  Tx& tx) -> Status { return Decide(tx, task, seen_through, commands); };
  return in;
}

}  // namespace keel::transitions
