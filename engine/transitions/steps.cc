#include "engine/transitions/steps.h"

#include "engine/retry.h"

namespace keel::transitions {

// ---- reads -----------------------------------------------------------------------

Result<ExecutionRow> LoadRun(Tx& tx, const std::string& run_id) {
  KEEL_ASSIGN_OR_RETURN(auto row, tx.GetExecution(run_id));
  if (!row) return Status::NotFound("run " + run_id + " not found", "workflow_not_found");
  return std::move(*row);
}

Result<ExecutionRow> LoadCurrent(Tx& tx, const std::string& workflow_id) {
  KEEL_ASSIGN_OR_RETURN(auto run, tx.GetCurrentRunId(workflow_id));
  if (!run) {
    return Status::NotFound("workflow '" + workflow_id + "' not found", "workflow_not_found");
  }
  return LoadRun(tx, *run);
}

Result<ExecutionRow> LoadRunning(Tx& tx, const std::string& workflow_id) {
  KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadCurrent(tx, workflow_id));
  if (exec.status != ExecutionStatus::kRunning) {
    return Status::FailedPrecondition("workflow '" + workflow_id + "' is closed (" +
                                          persistence::ExecutionStatusName(exec.status) + ")",
                                      "workflow_closed");
  }
  return exec;
}

Status StaleTask(const TaskRow& t) {
  return Status::ConditionFailed("task " + std::to_string(t.id) +
                                     " is no longer leased to this worker (lease ended or "
                                     "the run moved on)",
                                 "stale_task");
}

Result<TaskRow> CheckLease(Tx& tx, const TaskRow& mine) {
  KEEL_ASSIGN_OR_RETURN(auto cur, tx.GetTask(mine.id));
  if (!cur || cur->lease_owner.empty() || cur->lease_token != mine.lease_token ||
      cur->lease_owner != mine.lease_owner) {
    return StaleTask(mine);
  }
  return std::move(*cur);
}

// ---- a run's events and row ---------------------------------------------------------

void ScheduleWorkflowTask(Tx& tx, ExecutionRow& exec, EventWriter& w) {
  if (exec.wt_task_id != 0 || exec.status != ExecutionStatus::kRunning) return;
  auto* e = w.Add()->mutable_workflow_task_scheduled();
  e->set_task_queue(exec.task_queue);
  e->set_attempt(1);
  TaskRow t;
  t.queue = exec.task_queue;
  t.kind = TaskKind::kWorkflow;
  t.workflow_id = exec.workflow_id;
  t.run_id = exec.run_id;
  t.visible_at = tx.Now();
  t.lease_ms = tx.options().workflow_task_timeout;
  exec.wt_task_id = tx.InsertTask(std::move(t));
}

Status CommitRun(Tx& tx, ExecutionRow& exec, int64_t expected_version, EventWriter& w) {
  const int64_t limit = tx.options().max_history_events;
  if (exec.status == ExecutionStatus::kRunning && exec.next_event_id - 1 > limit) {
    std::string why = "history has " + std::to_string(exec.next_event_id - 1) +
                      " events, over the limit of " + std::to_string(limit) +
                      "; use continue-as-new for long-lived workflows";
    auto* t = w.Add()->mutable_workflow_execution_terminated();
    t->set_reason(why);
    t->set_identity("keel");
    proto::Failure f;
    f.set_type("HistoryLimitExceeded");
    f.set_message(why);
    f.set_code("history_too_large");
    exec.failure = f.SerializeAsString();
    KEEL_RETURN_IF_ERROR(CloseRun(tx, exec, ExecutionStatus::kTerminated));
  }
  tx.AppendHistory(exec.run_id, w.events());
  tx.UpdateExecution(exec, expected_version);
  return Status::Ok();
}

Status RequestCancelRun(Tx& tx, ExecutionRow exec, const std::string& reason,
                        const std::string& identity) {
  const int64_t version = exec.version;
  EventWriter w(exec, tx.Now());
  auto* e = w.Add()->mutable_workflow_execution_cancel_requested();
  e->set_reason(reason);
  e->set_identity(identity);
  ScheduleWorkflowTask(tx, exec, w);
  return CommitRun(tx, exec, version, w);
}

Status TerminateRun(Tx& tx, ExecutionRow exec, const std::string& reason,
                    const std::string& identity, bool report_to_parent) {
  const int64_t version = exec.version;
  EventWriter w(exec, tx.Now());
  auto* e = w.Add()->mutable_workflow_execution_terminated();
  e->set_reason(reason);
  e->set_identity(identity);
  proto::Failure f;
  f.set_type("Terminated");
  f.set_message(reason);
  exec.failure = f.SerializeAsString();
  KEEL_RETURN_IF_ERROR(CloseRun(tx, exec, ExecutionStatus::kTerminated, report_to_parent));
  return CommitRun(tx, exec, version, w);
}

// ---- closing a run ------------------------------------------------------------------

namespace {

// How a closed child ended, as its parent sees it.
proto::Failure ChildFailure(const ExecutionRow& child) {
  proto::Failure f;
  if (!child.failure.empty()) f.ParseFromString(child.failure);
  if (child.status == ExecutionStatus::kCancelled) {
    f.set_type("Canceled");
    f.set_message("child workflow '" + child.workflow_id + "' was cancelled");
  }
  if (f.type().empty()) f.set_type(persistence::ExecutionStatusName(child.status));
  return f;
}

Status ReportToParent(Tx& tx, const ExecutionRow& child) {
  proto::ParentInfo p;
  p.ParseFromString(child.parent);
  KEEL_ASSIGN_OR_RETURN(auto row, tx.GetExecution(p.run_id()));
  if (!row || row->status != ExecutionStatus::kRunning) return Status::Ok();  // nobody to tell
  ExecutionRow parent = std::move(*row);
  const int64_t version = parent.version;
  EventWriter w(parent, tx.Now());
  if (child.status == ExecutionStatus::kCompleted) {
    auto* e = w.Add()->mutable_child_workflow_execution_completed();
    e->set_child_id(p.child_id());
    e->mutable_result()->ParseFromString(child.result);
  } else {
    auto* e = w.Add()->mutable_child_workflow_execution_failed();
    e->set_child_id(p.child_id());
    *e->mutable_failure() = ChildFailure(child);
  }
  ScheduleWorkflowTask(tx, parent, w);
  return CommitRun(tx, parent, version, w);
}

bool ClosingHere(Tx& tx, const std::string& run_id) {
  for (const auto& row : tx.fx().closed) {
    if (row.run_id == run_id) return true;
  }
  return false;
}

Status ApplyParentClosePolicy(Tx& tx, const ExecutionRow& parent) {
  if (parent.children == 0) return Status::Ok();
  KEEL_ASSIGN_OR_RETURN(auto children, tx.ListOpenChildren(parent.run_id));
  for (auto& child : children) {
    if (ClosingHere(tx, child.run_id)) continue;  // closed earlier, not yet written
    proto::ParentInfo p;
    p.ParseFromString(child.parent);
    std::string why = "parent " + parent.workflow_id + " closed (" +
                      persistence::ExecutionStatusName(parent.status) + ")";
    switch (p.close_policy()) {
      case proto::PARENT_CLOSE_POLICY_ABANDON:
        break;
      case proto::PARENT_CLOSE_POLICY_REQUEST_CANCEL:
        KEEL_RETURN_IF_ERROR(RequestCancelRun(tx, std::move(child), why, "keel"));
        break;
      default:
        KEEL_RETURN_IF_ERROR(TerminateRun(tx, std::move(child), why, "keel", false));
        break;
    }
  }
  return Status::Ok();
}

}  // namespace

Status CloseRun(Tx& tx, ExecutionRow& exec, ExecutionStatus status, bool report_to_parent) {
  exec.status = status;
  exec.close_time = tx.Now();
  exec.wt_task_id = 0;
  tx.fx().closed.push_back(exec);
  tx.ClearRun(exec.run_id);
  KEEL_RETURN_IF_ERROR(ApplyParentClosePolicy(tx, exec));
  // A child that continues as new reports when its last run closes.
  if (report_to_parent && !exec.parent.empty() && status != ExecutionStatus::kContinuedAsNew) {
    return ReportToParent(tx, exec);
  }
  return Status::Ok();
}

// ---- starting a run -----------------------------------------------------------------

void CreateRun(Tx& tx, const NewRun& r) {
  ExecutionRow exec;
  exec.workflow_id = r.workflow_id;
  exec.run_id = r.run_id;
  exec.workflow_type = r.workflow_type;
  exec.task_queue = r.task_queue;
  exec.start_time = tx.Now();
  proto::ParentInfo parent;
  if (!r.parent.empty()) {
    parent.ParseFromString(r.parent);
    exec.parent = r.parent;
    exec.parent_run_id = parent.run_id();
  }
  EventWriter w(exec, tx.Now());
  auto* s = w.Add()->mutable_workflow_execution_started();
  s->set_parent_workflow_id(parent.workflow_id());
  s->set_parent_run_id(parent.run_id());
  s->set_parent_initiated_event_id(parent.initiated_event_id());
  s->set_workflow_type(r.workflow_type);
  s->set_task_queue(r.task_queue);
  *s->mutable_input() = r.input;
  s->set_workflow_id(r.workflow_id);
  s->set_run_id(r.run_id);
  s->set_random_seed(r.seed);
  s->set_workflow_task_timeout_ms(tx.options().workflow_task_timeout);
  s->set_continued_from_run_id(r.continued_from);
  tx.fx().started.push_back(r.workflow_type);
  ScheduleWorkflowTask(tx, exec, w);
  exec.version = 1;
  tx.InsertExecution(exec);
  tx.AppendHistory(exec.run_id, w.events());
}

std::optional<Status> RefuseStart(const ExecutionRow& prev, proto::WorkflowIdReusePolicy policy) {
  if (prev.status == ExecutionStatus::kRunning) {
    return Status::AlreadyExists(
        "workflow '" + prev.workflow_id + "' is already running (run " + prev.run_id + ")",
        "workflow_already_started");
  }
  bool failed_like =
      prev.status != ExecutionStatus::kCompleted && prev.status != ExecutionStatus::kContinuedAsNew;
  if (policy == proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE ||
      (policy == proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY && !failed_like)) {
    return Status::AlreadyExists("workflow '" + prev.workflow_id + "' already ran (run " +
                                     prev.run_id + ", " +
                                     persistence::ExecutionStatusName(prev.status) +
                                     ") and the reuse policy forbids another run",
                                 "workflow_id_reuse_rejected");
  }
  return std::nullopt;
}

// ---- activities -----------------------------------------------------------------------

void CreateActivityTask(Tx& tx, const ExecutionRow& exec, const proto::ActivityTaskScheduled& a) {
  const Millis now = tx.Now();
  proto::ActivityTaskInfo info;
  info.set_activity_id(a.activity_id());
  info.set_activity_type(a.activity_type());
  *info.mutable_input() = a.input();
  *info.mutable_options() = a.options();
  info.set_scheduled_time_ms(now);
  TaskRow t;
  t.queue = a.options().task_queue();
  t.kind = TaskKind::kActivity;
  t.workflow_id = exec.workflow_id;
  t.run_id = exec.run_id;
  t.activity_id = a.activity_id();
  t.visible_at = now;
  t.lease_ms = ActivityLeaseMs(a.options());
  if (a.options().schedule_to_start_timeout_ms() > 0) {
    t.start_deadline = now + a.options().schedule_to_start_timeout_ms();
  }
  if (a.options().schedule_to_close_timeout_ms() > 0) {
    t.close_deadline = now + a.options().schedule_to_close_timeout_ms();
  }
  t.info = info.SerializeAsString();
  tx.InsertTask(std::move(t));
}

namespace {

// The attempt again after its backoff, if the policy and the deadlines allow it.
bool Retry(Tx& tx, TaskRow& task, proto::ActivityTaskInfo& info, const proto::Failure& failure) {
  if (info.cancel_requested() || !MayRetry(info.options().retry_policy(), failure, task.attempt)) {
    return false;
  }
  const Millis next = tx.Now() + RetryBackoff(info.options().retry_policy(), task.attempt + 1);
  if (task.close_deadline != 0 && next >= task.close_deadline) return false;
  *info.mutable_last_failure() = failure;
  task.info = info.SerializeAsString();
  task.attempt += 1;
  task.lease_owner.clear();
  task.lease_expires = 0;
  task.visible_at = next;
  if (info.options().schedule_to_start_timeout_ms() > 0) {
    task.start_deadline = next + info.options().schedule_to_start_timeout_ms();
  }
  task.deadline = persistence::ComputeTaskDeadline(task);
  tx.UpdateTask(task);
  tx.fx().Wake(next);
  tx.fx().Wake(task.deadline);
  return true;
}

}  // namespace

void OfferWorkflowTaskAgain(Tx& tx, TaskRow task) {
  task.lease_owner.clear();
  task.lease_expires = 0;
  task.attempt += 1;
  task.visible_at = tx.Now();
  task.deadline = persistence::ComputeTaskDeadline(task);
  tx.UpdateTask(task);
  tx.fx().notify.emplace_back(task.kind, task.queue);
}

Status RetryOrFailActivity(Tx& tx, TaskRow task, const proto::Failure& failure, bool timed_out,
                           bool was_started) {
  proto::ActivityTaskInfo info;
  info.ParseFromString(task.info);
  if (Retry(tx, task, info, failure)) return Status::Ok();
  tx.DeleteTask(task.id);
  KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(tx, task.run_id));
  if (exec.status != ExecutionStatus::kRunning) return Status::Ok();
  const int64_t version = exec.version;
  EventWriter w(exec, tx.Now());
  if (was_started) {
    auto* s = w.Add()->mutable_activity_task_started();
    s->set_activity_id(task.activity_id);
    s->set_attempt(task.attempt);
    s->set_identity(task.lease_owner);
    if (info.has_last_failure()) *s->mutable_last_failure() = info.last_failure();
  }
  if (info.cancel_requested()) {
    w.Add()->mutable_activity_task_canceled()->set_activity_id(task.activity_id);
  } else if (timed_out) {
    auto* t = w.Add()->mutable_activity_task_timed_out();
    t->set_activity_id(task.activity_id);
    *t->mutable_failure() = failure;
    t->set_attempt(task.attempt);
  } else {
    auto* f = w.Add()->mutable_activity_task_failed();
    f->set_activity_id(task.activity_id);
    *f->mutable_failure() = failure;
    f->set_attempt(task.attempt);
    f->set_identity(task.lease_owner);
  }
  ScheduleWorkflowTask(tx, exec, w);
  return CommitRun(tx, exec, version, w);
}

}  // namespace keel::transitions
