#include "engine/history_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <random>
#include <set>

#include "common/ids.h"
#include "common/metrics.h"
#include "engine/history_events.h"
#include "engine/payload.h"
#include "engine/retry.h"

namespace keel {

using persistence::ExecutionRow;
using persistence::ExecutionStatus;
using persistence::TaskKind;
using persistence::TaskRow;
using persistence::TimerRow;
using persistence::Txn;

// What a transition does to this process once it has committed.
struct HistoryService::Effects {
  std::vector<TaskRow> eager;                              // leased to us: hand to local workers
  std::vector<std::pair<TaskKind, std::string>> reserved;  // slots to give back on failure
  std::vector<std::pair<TaskKind, std::string>> notify;    // queues with new waiting tasks
  Millis wake = 0;                                         // earliest new timer/deadline
  std::vector<ExecutionRow> closed;                        // runs this transition closed
  std::vector<std::string> started;                        // types of runs it started
  void Wake(Millis t) {
    if (t > 0 && (wake == 0 || t < wake)) wake = t;
  }
};

namespace {

Millis WorkflowTaskBackoff(int attempt) {
  Millis d = 1000LL << std::min(attempt - 1, 6);
  return std::min<Millis>(d, 60'000);
}

Status CheckPayload(const std::string& what, size_t bytes) {
  if (bytes <= kMaxPayloadBytes) return Status::Ok();
  return Status::ResourceExhausted(what + " is " + std::to_string(bytes) + " bytes; the limit is " +
                                       std::to_string(kMaxPayloadBytes),
                                   "payload_too_large");
}

// Events appended by one transition, numbered from the execution's next id.
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

Result<ExecutionRow> LoadRun(Txn& txn, const std::string& run_id) {
  KEEL_ASSIGN_OR_RETURN(auto row, txn.GetExecution(run_id));
  if (!row) return Status::NotFound("run " + run_id + " not found", "workflow_not_found");
  return std::move(*row);
}

Result<ExecutionRow> LoadCurrent(Txn& txn, const std::string& workflow_id) {
  KEEL_ASSIGN_OR_RETURN(auto run, txn.GetCurrentRunId(workflow_id));
  if (!run) {
    return Status::NotFound("workflow '" + workflow_id + "' not found", "workflow_not_found");
  }
  return LoadRun(txn, *run);
}

// The current run of workflow_id, which must still be running.
Result<ExecutionRow> LoadRunning(Txn& txn, const std::string& workflow_id) {
  KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadCurrent(txn, workflow_id));
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

// The task as stored, if this worker still holds its lease.
Result<TaskRow> CheckLease(Txn& txn, const TaskRow& mine) {
  KEEL_ASSIGN_OR_RETURN(auto cur, txn.GetTask(mine.id));
  if (!cur || cur->lease_owner.empty() || cur->lease_token != mine.lease_token ||
      cur->lease_owner != mine.lease_owner) {
    return StaleTask(mine);
  }
  return std::move(*cur);
}

}  // namespace

// ---- Shared transition steps ------------------------------------------------

namespace {

struct Ctx {
  Txn& txn;
  HistoryService::Effects& fx;
  Matcher* matcher;
  const HistoryServiceOptions& opts;
};

Result<int64_t> CreateTask(Ctx& c, TaskRow row) {
  Millis now = c.txn.Now();
  bool eager = row.visible_at <= now && c.matcher && c.matcher->TryReserve(row.kind, row.queue);
  if (eager) {
    c.fx.reserved.emplace_back(row.kind, row.queue);
    row.lease_owner = c.opts.identity;
    row.lease_token = 1;
    row.started_at = now;
    row.lease_expires = now + row.lease_ms;
  }
  row.deadline = persistence::ComputeTaskDeadline(row);
  KEEL_ASSIGN_OR_RETURN(row.id, c.txn.InsertTask(row));
  c.fx.Wake(row.deadline);
  if (eager) {
    c.fx.eager.push_back(row);
  } else {
    c.fx.notify.emplace_back(row.kind, row.queue);
    if (row.visible_at > now) c.fx.Wake(row.visible_at);
  }
  return row.id;
}

// Schedules a workflow task unless one is already scheduled or running.
Status ScheduleWorkflowTask(Ctx& c, ExecutionRow& exec, EventWriter& w) {
  if (exec.wt_task_id != 0 || exec.status != ExecutionStatus::kRunning) return Status::Ok();
  auto* e = w.Add();
  e->mutable_workflow_task_scheduled()->set_task_queue(exec.task_queue);
  e->mutable_workflow_task_scheduled()->set_attempt(1);
  TaskRow t;
  t.queue = exec.task_queue;
  t.kind = TaskKind::kWorkflow;
  t.workflow_id = exec.workflow_id;
  t.run_id = exec.run_id;
  t.visible_at = c.txn.Now();
  t.lease_ms = c.opts.workflow_task_timeout;
  KEEL_ASSIGN_OR_RETURN(exec.wt_task_id, CreateTask(c, std::move(t)));
  return Status::Ok();
}

// Closes the run: status, close time, and no more tasks or timers. Its open children
// get their parent close policy, and a child run reports how it ended to its parent
// (unless `report_to_parent` is false: the parent is the one closing).
Status CloseRun(Ctx& c, ExecutionRow& exec, ExecutionStatus status, bool report_to_parent = true);

// Hands the run's new events to the workflow task this transition leased to a local
// worker, if it did (see TaskRow::events).
void AttachEvents(Ctx& c, const ExecutionRow& exec,
                  const std::vector<proto::HistoryEvent>& events) {
  if (exec.wt_task_id == 0 || events.empty()) return;
  for (auto& t : c.fx.eager) {
    if (t.id == exec.wt_task_id && t.kind == TaskKind::kWorkflow) {
      t.events = std::make_shared<const std::vector<proto::HistoryEvent>>(events);
    }
  }
}

// Writes the transition's events and the execution row. A run whose history passes
// the limit is terminated in the same transaction: its history cannot grow further.
Status CommitRun(Ctx& c, ExecutionRow& exec, int64_t expected_version, EventWriter& w) {
  if (exec.status == ExecutionStatus::kRunning &&
      exec.next_event_id - 1 > c.opts.max_history_events) {
    std::string why = "history has " + std::to_string(exec.next_event_id - 1) +
                      " events, over the limit of " + std::to_string(c.opts.max_history_events) +
                      "; use continue-as-new for long-lived workflows";
    auto* t = w.Add()->mutable_workflow_execution_terminated();
    t->set_reason(why);
    t->set_identity("keel");
    proto::Failure f;
    f.set_type("HistoryLimitExceeded");
    f.set_message(why);
    f.set_code("history_too_large");
    exec.failure = f.SerializeAsString();
    KEEL_RETURN_IF_ERROR(CloseRun(c, exec, ExecutionStatus::kTerminated));
  }
  KEEL_RETURN_IF_ERROR(c.txn.AppendHistory(exec.run_id, w.events()));
  AttachEvents(c, exec, w.events());
  return c.txn.UpdateExecution(exec, expected_version);
}

// Appends a cancel request to a running run and wakes its workflow code.
Status RequestCancelRun(Ctx& c, ExecutionRow exec, const std::string& reason,
                        const std::string& identity) {
  int64_t version = exec.version;
  EventWriter w(exec, c.txn.Now());
  auto* e = w.Add()->mutable_workflow_execution_cancel_requested();
  e->set_reason(reason);
  e->set_identity(identity);
  KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
  return CommitRun(c, exec, version, w);
}

// Ends a running run at once, without its code's say.
Status TerminateRun(Ctx& c, ExecutionRow exec, const std::string& reason,
                    const std::string& identity, bool report_to_parent) {
  int64_t version = exec.version;
  EventWriter w(exec, c.txn.Now());
  auto* e = w.Add()->mutable_workflow_execution_terminated();
  e->set_reason(reason);
  e->set_identity(identity);
  proto::Failure f;
  f.set_type("Terminated");
  f.set_message(reason);
  exec.failure = f.SerializeAsString();
  KEEL_RETURN_IF_ERROR(CloseRun(c, exec, ExecutionStatus::kTerminated, report_to_parent));
  return CommitRun(c, exec, version, w);
}

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

Status ReportToParent(Ctx& c, const ExecutionRow& child) {
  proto::ParentInfo p;
  p.ParseFromString(child.parent);
  KEEL_ASSIGN_OR_RETURN(auto row, c.txn.GetExecution(p.run_id()));
  if (!row || row->status != ExecutionStatus::kRunning) return Status::Ok();  // nobody to tell
  ExecutionRow parent = std::move(*row);
  int64_t version = parent.version;
  EventWriter w(parent, c.txn.Now());
  if (child.status == ExecutionStatus::kCompleted) {
    auto* e = w.Add()->mutable_child_workflow_execution_completed();
    e->set_child_id(p.child_id());
    e->mutable_result()->ParseFromString(child.result);
  } else {
    auto* e = w.Add()->mutable_child_workflow_execution_failed();
    e->set_child_id(p.child_id());
    *e->mutable_failure() = ChildFailure(child);
  }
  KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, parent, w));
  return CommitRun(c, parent, version, w);
}

Status ApplyParentClosePolicy(Ctx& c, const ExecutionRow& parent) {
  if (parent.children == 0) return Status::Ok();
  KEEL_ASSIGN_OR_RETURN(auto children, c.txn.ListOpenChildren(parent.run_id));
  for (auto& child : children) {
    bool closing = false;  // closed earlier in this transition, not yet written
    for (const auto& row : c.fx.closed) closing = closing || row.run_id == child.run_id;
    if (closing) continue;
    proto::ParentInfo p;
    p.ParseFromString(child.parent);
    std::string why = "parent " + parent.workflow_id + " closed (" +
                      persistence::ExecutionStatusName(parent.status) + ")";
    switch (p.close_policy()) {
      case proto::PARENT_CLOSE_POLICY_ABANDON:
        break;
      case proto::PARENT_CLOSE_POLICY_REQUEST_CANCEL:
        KEEL_RETURN_IF_ERROR(RequestCancelRun(c, std::move(child), why, "keel"));
        break;
      default:
        KEEL_RETURN_IF_ERROR(TerminateRun(c, std::move(child), why, "keel", false));
        break;
    }
  }
  return Status::Ok();
}

Status CloseRun(Ctx& c, ExecutionRow& exec, ExecutionStatus status, bool report_to_parent) {
  exec.status = status;
  exec.close_time = c.txn.Now();
  exec.wt_task_id = 0;
  c.fx.closed.push_back(exec);
  KEEL_RETURN_IF_ERROR(c.txn.DeleteTasksOfRun(exec.run_id));
  KEEL_RETURN_IF_ERROR(c.txn.DeleteTimersOfRun(exec.run_id));
  KEEL_RETURN_IF_ERROR(ApplyParentClosePolicy(c, exec));
  // A child that continues as new reports when its last run closes.
  if (report_to_parent && !exec.parent.empty() && status != ExecutionStatus::kContinuedAsNew) {
    return ReportToParent(c, exec);
  }
  return Status::Ok();
}

struct NewRun {
  std::string workflow_id, workflow_type, task_queue, run_id, continued_from;
  proto::Payload input;
  uint64_t seed;
  std::string parent;  // serialized proto::ParentInfo; empty for a top-level run
};

Status CreateRun(Ctx& c, const NewRun& r) {
  ExecutionRow exec;
  exec.workflow_id = r.workflow_id;
  exec.run_id = r.run_id;
  exec.workflow_type = r.workflow_type;
  exec.task_queue = r.task_queue;
  exec.start_time = c.txn.Now();
  proto::ParentInfo parent;
  if (!r.parent.empty()) {
    parent.ParseFromString(r.parent);
    exec.parent = r.parent;
    exec.parent_run_id = parent.run_id();
  }
  EventWriter w(exec, c.txn.Now());
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
  s->set_workflow_task_timeout_ms(c.opts.workflow_task_timeout);
  s->set_continued_from_run_id(r.continued_from);
  c.fx.started.push_back(r.workflow_type);
  KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
  exec.version = 1;
  KEEL_RETURN_IF_ERROR(c.txn.InsertExecution(exec));
  AttachEvents(c, exec, w.events());
  return c.txn.AppendHistory(exec.run_id, w.events());
}

uint64_t RandomSeed() {
  thread_local std::mt19937_64 gen(std::random_device{}());
  return gen();
}

// Why a new run of prev's workflow id may not start, if it may not.
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

// The parent's StartChildWorkflow command: the Initiated event, and in the same
// transaction the child run itself. How that went (Started, or StartFailed) is an
// input for the parent, queued in `inputs` to follow the task's command events.
Status StartChild(Ctx& c, ExecutionRow& parent, const proto::StartChildWorkflowCommand& a,
                  EventWriter& w, std::vector<proto::HistoryEvent>& inputs) {
  auto* ev = w.Add();
  auto* i = ev->mutable_child_workflow_execution_initiated();
  i->set_child_id(a.child_id());
  i->set_workflow_id(a.workflow_id());
  i->set_workflow_type(a.workflow_type());
  i->set_task_queue(a.task_queue().empty() ? parent.task_queue : a.task_queue());
  *i->mutable_input() = a.input();
  i->set_parent_close_policy(a.parent_close_policy());
  i->set_reuse_policy(a.reuse_policy());
  KEEL_ASSIGN_OR_RETURN(auto cur, c.txn.GetCurrentRunId(a.workflow_id()));
  if (cur) {
    KEEL_ASSIGN_OR_RETURN(ExecutionRow prev, LoadRun(c.txn, *cur));
    if (auto refused = RefuseStart(prev, a.reuse_policy())) {
      auto* f = inputs.emplace_back().mutable_start_child_workflow_execution_failed();
      f->set_child_id(a.child_id());
      f->set_workflow_id(a.workflow_id());
      f->mutable_failure()->set_type(refused->reason() == "workflow_already_started"
                                         ? "WorkflowAlreadyStarted"
                                         : "WorkflowIdReuseRejected");
      f->mutable_failure()->set_message(refused->message());
      f->mutable_failure()->set_code(refused->reason());
      f->mutable_failure()->set_non_retryable(true);
      return Status::Ok();
    }
  }
  parent.children += 1;
  proto::ParentInfo p;
  p.set_workflow_id(parent.workflow_id);
  p.set_run_id(parent.run_id);
  p.set_child_id(a.child_id());
  p.set_initiated_event_id(ev->event_id());
  p.set_close_policy(a.parent_close_policy());
  NewRun run;
  run.workflow_id = a.workflow_id();
  run.workflow_type = a.workflow_type();
  run.task_queue = i->task_queue();
  run.run_id = NewTimeOrderedUuid(c.txn.Now());
  run.input = a.input();
  run.seed = RandomSeed();
  run.parent = p.SerializeAsString();
  KEEL_RETURN_IF_ERROR(CreateRun(c, run));
  auto* s = inputs.emplace_back().mutable_child_workflow_execution_started();
  s->set_child_id(a.child_id());
  s->set_workflow_id(a.workflow_id());
  s->set_run_id(run.run_id);
  return Status::Ok();
}

Status ValidateCommand(const proto::Command& cmd) {
  switch (cmd.attributes_case()) {
    case proto::Command::kScheduleActivity:
      if (cmd.schedule_activity().activity_type().empty()) {
        return Status::InvalidArgument("schedule_activity without an activity type", "bad_command");
      }
      return CheckPayload("activity input", cmd.schedule_activity().input().data().size());
    case proto::Command::kStartTimer:
      if (cmd.start_timer().duration_ms() < 0) {
        return Status::InvalidArgument("negative timer duration", "bad_command");
      }
      return Status::Ok();
    case proto::Command::kCompleteWorkflow:
      return CheckPayload("workflow result", cmd.complete_workflow().result().data().size());
    case proto::Command::kStartChildWorkflow: {
      const auto& a = cmd.start_child_workflow();
      if (a.workflow_id().empty() || a.workflow_id().size() > 255 || a.workflow_type().empty()) {
        return Status::InvalidArgument(
            "start_child_workflow needs a workflow type and a workflow id of 1 to 255 characters",
            "bad_command");
      }
      return CheckPayload("child workflow input", a.input().data().size());
    }
    case proto::Command::ATTRIBUTES_NOT_SET:
      return Status::InvalidArgument("empty command", "bad_command");
    default:
      return Status::Ok();
  }
}

// The task that runs a scheduled activity's first attempt, from now.
Status CreateActivityTask(Ctx& c, const ExecutionRow& exec, const proto::ActivityTaskScheduled& a) {
  Millis now = c.txn.Now();
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
  return CreateTask(c, std::move(t)).status();
}

// Retries the activity attempt, or records its final failure and wakes the workflow.
Status RetryOrFailActivity(Ctx& c, TaskRow task, const proto::Failure& failure, bool timed_out,
                           bool was_started) {
  proto::ActivityTaskInfo info;
  info.ParseFromString(task.info);
  Millis now = c.txn.Now();
  if (!info.cancel_requested() && MayRetry(info.options().retry_policy(), failure, task.attempt)) {
    Millis next = now + RetryBackoff(info.options().retry_policy(), task.attempt + 1);
    if (task.close_deadline == 0 || next < task.close_deadline) {
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
      KEEL_RETURN_IF_ERROR(c.txn.UpdateTask(task));
      c.fx.Wake(next);
      c.fx.Wake(task.deadline);
      return Status::Ok();
    }
  }
  KEEL_RETURN_IF_ERROR(c.txn.DeleteTask(task.id));
  KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(c.txn, task.run_id));
  if (exec.status != ExecutionStatus::kRunning) return Status::Ok();
  int64_t version = exec.version;
  EventWriter w(exec, now);
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
  KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
  return CommitRun(c, exec, version, w);
}

}  // namespace

// ---- Plumbing -------------------------------------------------------------------

HistoryService::HistoryService(persistence::Store* store, Matcher* matcher,
                               HistoryServiceOptions options)
    : store_(store), matcher_(matcher), options_(std::move(options)) {
  if (options_.identity.empty()) options_.identity = "keel-" + NewRandomUuid().substr(0, 8);
  retry_thread_ = std::thread([this] { RetryLoop(); });
}

HistoryService::~HistoryService() {
  {
    std::lock_guard<std::mutex> l(retry_mu_);
    stopping_ = true;
  }
  retry_cv_.notify_all();
  retry_thread_.join();
  // Transitions still waiting to retry will not run: say so, so nobody waits forever.
  for (auto& [t, r] : retries_) {
    if (r.done)
      r.done(Status::Unavailable("shutting down before the store accepted it", "shutting_down"));
    in_flight_.fetch_sub(1);
  }
  // A completion callback may still be running after it told its caller (who may be
  // what destroys us); its last touch of this object is the in_flight_ decrement.
  while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HistoryService::RetryLater(Millis delay, TxnBody body, Done done, int attempt,
                                int64_t task_hint) {
  {
    std::lock_guard<std::mutex> l(retry_mu_);
    retries_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(delay),
                     PendingRetry{std::move(body), std::move(done), attempt, task_hint});
  }
  retry_cv_.notify_one();
}

void HistoryService::RetryLoop() {
  std::unique_lock<std::mutex> l(retry_mu_);
  while (!stopping_) {
    if (retries_.empty()) {
      retry_cv_.wait(l);
      continue;
    }
    auto first = retries_.begin();
    if (first->first > std::chrono::steady_clock::now()) {
      retry_cv_.wait_until(l, first->first);
      continue;
    }
    PendingRetry r = std::move(first->second);
    retries_.erase(first);
    l.unlock();
    Run(std::move(r.body), std::move(r.done), r.attempt, r.task_hint);
    l.lock();
  }
}

namespace {

Histogram& TransactionSeconds() {
  static Histogram& h = Metrics::Global().GetHistogram(
      "keel_store_transaction_seconds",
      "Engine state transitions: submit to durable commit (group commit included).", {});
  return h;
}

void CountCommitted(const HistoryService::Effects& fx) {
  for (const auto& type : fx.started) {
    Metrics::Global()
        .GetCounter("keel_workflows_started_total", "Workflow runs started, by type.",
                    {{"workflow_type", type}})
        .Inc();
  }
  for (const auto& row : fx.closed) {
    Metrics::Global()
        .GetCounter("keel_workflows_closed_total",
                    "Workflow runs closed, by type and status (completed, failed, ...).",
                    {{"workflow_type", row.workflow_type},
                     {"status", persistence::ExecutionStatusName(row.status)}})
        .Inc();
  }
}

}  // namespace

void HistoryService::Run(TxnBody body, Done done, int attempt, int64_t task_hint) {
  if (attempt == 0) in_flight_.fetch_add(1);
  auto fx = std::make_shared<Effects>();
  const auto submitted = std::chrono::steady_clock::now();
  Matcher* matcher = matcher_;
  store_->Submit(
      [body, fx, matcher](Txn& txn) {
        // A store may run a body more than once (a batch rolled back for another
        // transition's sake): slots an earlier run reserved go back first, or the
        // pool would lose them for good.
        if (matcher) {
          for (auto& [k, q] : fx->reserved) matcher->Release(k, q);
        }
        *fx = Effects();
        Status s = body(txn, *fx);
        if (!s.ok() && matcher) {
          for (auto& [k, q] : fx->reserved) matcher->Release(k, q);
          fx->reserved.clear();
          fx->eager.clear();
        }
        return s;
      },
      [this, body, done, fx, attempt, submitted, task_hint](const Status& s) {
        TransactionSeconds().Observe(SecondsSince(submitted));
        if (!s.ok()) {
          if (matcher_) {
            for (auto& [k, q] : fx->reserved) matcher_->Release(k, q);
          }
          // Locks and version conflicts pass; a full disk rarely does, so it surfaces soon.
          int budget = s.reason() == "disk_full" ? 3 : options_.max_transient_retries;
          bool retry = (s.transient() || s.reason() == "disk_full") && s.reason() != "stale_task" &&
                       attempt < budget;
          if (retry) {
            Millis delay = std::min<Millis>(10LL << std::min(attempt, 6), 1000);
            if (attempt == 3) spdlog::warn("store busy, retrying: {}", s.ToString());
            RetryLater(delay, body, done, attempt + 1, task_hint);
            return;
          }
          // `done` first: whoever waits for in_flight() == 0 (Engine::Stop) may then
          // destroy what `done` touches.
          if (done) done(s);
          in_flight_.fetch_sub(1);
          return;
        }
        CountCommitted(*fx);
        if (done) done(s);
        if (matcher_) {
          for (const auto& t : fx->eager) matcher_->Deliver(t);
          for (const auto& [k, q] : fx->notify) matcher_->Notify(k, q);
        }
        if (fx->wake && wake_hook_) wake_hook_(fx->wake);
        if (!fx->closed.empty()) {
          std::lock_guard<std::mutex> l(close_mu_);
          for (const auto& hook : close_hooks_) {
            for (const auto& row : fx->closed) hook(row);
          }
        }
        in_flight_.fetch_sub(1);
      },
      persistence::ReadHint{task_hint});
}

Status HistoryService::RunSync(TxnBody body) {
  std::promise<Status> p;
  auto f = p.get_future();
  Run(std::move(body), [&p](const Status& s) { p.set_value(s); });
  return f.get();
}

// ---- Client API -----------------------------------------------------------------

Result<StartWorkflowResult> HistoryService::StartWorkflow(const StartWorkflowRequest& req) {
  if (req.workflow_id.empty() || req.workflow_id.size() > 255) {
    return Status::InvalidArgument("workflow id must be 1 to 255 characters", "invalid_argument");
  }
  if (req.workflow_type.empty()) {
    return Status::InvalidArgument("workflow type is required", "invalid_argument");
  }
  NewRun run;
  run.workflow_id = req.workflow_id;
  run.workflow_type = req.workflow_type;
  run.task_queue = req.task_queue.empty() ? "workflows" : req.task_queue;
  run.run_id = NewTimeOrderedUuid(store_->clock()->Now());
  run.input = ToPayload(req.input);
  run.seed = RandomSeed();
  KEEL_RETURN_IF_ERROR(CheckPayload("workflow input", run.input.data().size()));
  auto result = std::make_shared<StartWorkflowResult>();
  auto policy = req.reuse_policy;
  Status s = RunSync([run, result, policy, this](Txn& txn, Effects& fx) -> Status {
    Ctx c{txn, fx, matcher_, options_};
    KEEL_ASSIGN_OR_RETURN(auto cur, txn.GetCurrentRunId(run.workflow_id));
    if (cur) {
      KEEL_ASSIGN_OR_RETURN(ExecutionRow prev, LoadRun(txn, *cur));
      if (prev.status == ExecutionStatus::kRunning) {
        result->run_id = prev.run_id;
        // Our own run when this is a retry of a commit whose answer was lost.
        result->started = prev.run_id == run.run_id;
        return Status::Ok();
      }
      if (auto refused = RefuseStart(prev, policy)) return *refused;
    }
    KEEL_RETURN_IF_ERROR(CreateRun(c, run));
    result->run_id = run.run_id;
    result->started = true;
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return *result;
}

Status HistoryService::SignalWorkflow(const std::string& workflow_id,
                                      const std::string& signal_name, const json::value& input,
                                      const std::string& identity, const std::string& request_id) {
  if (signal_name.empty()) return Status::InvalidArgument("signal name is required");
  proto::Payload payload = ToPayload(input);
  KEEL_RETURN_IF_ERROR(CheckPayload("signal input", payload.data().size()));
  std::string rid = request_id.empty() ? NewRandomUuid() : request_id;
  return RunSync([=, this](Txn& txn, Effects& fx) -> Status {
    Ctx c{txn, fx, matcher_, options_};
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRunning(txn, workflow_id));
    KEEL_ASSIGN_OR_RETURN(bool first, txn.InsertRequestId(exec.run_id, rid));
    if (!first) return Status::Ok();  // already applied
    int64_t version = exec.version;
    EventWriter w(exec, txn.Now());
    auto* s = w.Add()->mutable_workflow_execution_signaled();
    s->set_signal_name(signal_name);
    *s->mutable_input() = payload;
    s->set_identity(identity);
    KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
    return CommitRun(c, exec, version, w);
  });
}

Status HistoryService::RequestCancelWorkflow(const std::string& workflow_id,
                                             const std::string& reason, const std::string& identity,
                                             const std::string& request_id) {
  std::string rid = request_id.empty() ? NewRandomUuid() : request_id;
  return RunSync([=, this](Txn& txn, Effects& fx) -> Status {
    Ctx c{txn, fx, matcher_, options_};
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRunning(txn, workflow_id));
    KEEL_ASSIGN_OR_RETURN(bool first, txn.InsertRequestId(exec.run_id, rid));
    if (!first) return Status::Ok();  // already applied
    return RequestCancelRun(c, std::move(exec), reason, identity);
  });
}

Status HistoryService::TerminateWorkflow(const std::string& workflow_id, const std::string& reason,
                                         const std::string& identity) {
  return RunSync([=, this](Txn& txn, Effects& fx) -> Status {
    Ctx c{txn, fx, matcher_, options_};
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRunning(txn, workflow_id));
    return TerminateRun(c, std::move(exec), reason, identity, /*report_to_parent=*/true);
  });
}

namespace {

// What the kept part of a history leaves open, which the new run must recreate.
struct OpenAtCut {
  std::map<std::string, proto::ActivityTaskScheduled> activities;  // by activity id
  std::map<std::string, proto::TimerStarted> timers;               // by timer id
  std::vector<std::string> children;                               // open child ids
  int64_t children_started = 0;
};

OpenAtCut ScanPrefix(const std::vector<proto::HistoryEvent>& prefix) {
  OpenAtCut o;
  std::set<std::string> kids;
  for (const auto& e : prefix) {
    if (e.has_activity_task_scheduled()) {
      o.activities[e.activity_task_scheduled().activity_id()] = e.activity_task_scheduled();
    } else if (e.has_activity_task_completed()) {
      o.activities.erase(e.activity_task_completed().activity_id());
    } else if (e.has_activity_task_failed()) {
      o.activities.erase(e.activity_task_failed().activity_id());
    } else if (e.has_activity_task_timed_out()) {
      o.activities.erase(e.activity_task_timed_out().activity_id());
    } else if (e.has_activity_task_canceled()) {
      o.activities.erase(e.activity_task_canceled().activity_id());
    } else if (e.has_timer_started()) {
      o.timers[e.timer_started().timer_id()] = e.timer_started();
    } else if (e.has_timer_fired()) {
      o.timers.erase(e.timer_fired().timer_id());
    } else if (e.has_timer_canceled()) {
      o.timers.erase(e.timer_canceled().timer_id());
    } else if (e.has_child_workflow_execution_initiated()) {
      kids.insert(e.child_workflow_execution_initiated().child_id());
      o.children_started += 1;
    } else if (e.has_child_workflow_execution_completed()) {
      kids.erase(e.child_workflow_execution_completed().child_id());
    } else if (e.has_child_workflow_execution_failed()) {
      kids.erase(e.child_workflow_execution_failed().child_id());
    } else if (e.has_start_child_workflow_execution_failed()) {
      kids.erase(e.start_child_workflow_execution_failed().child_id());
    }
  }
  o.children.assign(kids.begin(), kids.end());
  return o;
}

Status ResetPointInvalid(const std::string& why) {
  return Status::FailedPrecondition(why, "reset_point_invalid");
}

}  // namespace

Result<std::string> HistoryService::ResetWorkflow(const ResetRequest& req) {
  // The history is read outside the transaction, which then checks that the run has
  // not moved on since; if it has, read again.
  for (int attempt = 0;; ++attempt) {
    KEEL_ASSIGN_OR_RETURN(WorkflowDescription d, Describe(req.workflow_id, req.run_id));
    const ExecutionRow old = d.execution;
    KEEL_ASSIGN_OR_RETURN(auto events, store_->ReadHistory(old.run_id, 1));
    int64_t point = req.event_id;
    if (point == 0) {
      for (const auto& e : events) {
        if (e.has_workflow_task_completed()) point = e.event_id();
      }
      if (point == 0) return ResetPointInvalid("no workflow task of this run has completed yet");
    }
    if (point < 3 || point > static_cast<int64_t>(events.size()) ||
        !events[point - 1].has_workflow_task_completed() ||
        !events[point - 2].has_workflow_task_started()) {
      std::string what = point >= 1 && point <= static_cast<int64_t>(events.size())
                             ? EventTypeName(events[point - 1])
                             : std::string("no event");
      return Status::InvalidArgument("event " + std::to_string(point) + " is " + what +
                                         "; reset to a workflow_task_completed event (see "
                                         "`keel workflow history`)",
                                     "reset_point_invalid");
    }
    // Keep everything before the task's WorkflowTaskStarted; that task runs again.
    std::vector<proto::HistoryEvent> prefix(events.begin(), events.begin() + (point - 2));
    OpenAtCut open = ScanPrefix(prefix);
    if (!open.children.empty()) {
      return ResetPointInvalid("child workflow " + open.children.front() + " is open at event " +
                               std::to_string(point) +
                               "; reset to a point before it started or after it closed");
    }
    std::vector<proto::HistoryEvent> reapply;  // inputs from outside, after the cut
    for (size_t i = prefix.size(); i < events.size(); ++i) {
      if (events[i].has_workflow_execution_signaled() ||
          events[i].has_workflow_execution_cancel_requested()) {
        reapply.push_back(events[i]);
      }
    }
    std::string new_run = NewTimeOrderedUuid(store_->clock()->Now());
    std::string why = "reset to event " + std::to_string(point) + " as run " + new_run +
                      (req.reason.empty() ? "" : ": " + req.reason);
    Status s = RunSync([&, this](Txn& txn, Effects& fx) -> Status {
      Ctx c{txn, fx, matcher_, options_};
      KEEL_ASSIGN_OR_RETURN(ExecutionRow cur, LoadRun(txn, old.run_id));
      if (cur.next_event_id - 1 != static_cast<int64_t>(events.size())) {
        return Status::FailedPrecondition("the run moved on while it was read", "reset_raced");
      }
      KEEL_ASSIGN_OR_RETURN(auto current, txn.GetCurrentRunId(old.workflow_id));
      if (current && *current != old.run_id) {
        KEEL_ASSIGN_OR_RETURN(ExecutionRow newer, LoadRun(txn, *current));
        if (newer.status == ExecutionStatus::kRunning) {
          return Status::FailedPrecondition("workflow '" + old.workflow_id + "' has a newer run (" +
                                                newer.run_id + ") that is running",
                                            "workflow_running");
        }
      }
      if (cur.status == ExecutionStatus::kRunning) {
        KEEL_RETURN_IF_ERROR(TerminateRun(c, cur, why, req.identity, /*report_to_parent=*/false));
      }
      Millis now = txn.Now();
      ExecutionRow exec;
      exec.workflow_id = old.workflow_id;
      exec.run_id = new_run;
      exec.workflow_type = old.workflow_type;
      exec.task_queue = old.task_queue;
      exec.start_time = now;
      exec.parent = old.parent;
      exec.parent_run_id = old.parent_run_id;
      exec.children = open.children_started;
      exec.next_event_id = static_cast<int64_t>(prefix.size()) + 1;
      std::vector<proto::HistoryEvent> history = prefix;
      auto* started = history[0].mutable_workflow_execution_started();
      started->set_run_id(new_run);
      started->set_reset_from_run_id(old.run_id);
      started->set_reset_event_id(point);
      EventWriter w(exec, now);
      auto* failed = w.Add()->mutable_workflow_task_failed();
      failed->mutable_failure()->set_type("Reset");
      failed->mutable_failure()->set_message(why);
      failed->set_identity(req.identity);
      for (const auto& in : reapply) {
        auto* e = w.Add();
        int64_t id = e->event_id();
        *e = in;
        e->set_event_id(id);
        e->set_event_time_ms(now);
      }
      exec.wt_task_id = 0;
      KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
      for (const auto& [id, a] : open.activities) {
        KEEL_RETURN_IF_ERROR(CreateActivityTask(c, exec, a));
      }
      for (const auto& [id, t] : open.timers) {
        TimerRow row{0, exec.workflow_id, new_run, id, std::max(t.fire_at_ms(), now)};
        KEEL_RETURN_IF_ERROR(txn.InsertTimer(row).status());
        fx.Wake(row.fire_at);
      }
      history.insert(history.end(), w.events().begin(), w.events().end());
      exec.version = 1;
      fx.started.push_back(exec.workflow_type);
      KEEL_RETURN_IF_ERROR(txn.InsertExecution(exec));
      return txn.AppendHistory(new_run, history);
    });
    if (s.ok()) return new_run;
    if (s.reason() != "reset_raced" || attempt >= 5) return s;
  }
}

Result<proto::History> HistoryService::ReadRunHistory(const std::string& workflow_id,
                                                      const std::string& run_id) {
  KEEL_ASSIGN_OR_RETURN(WorkflowDescription d, Describe(workflow_id, run_id));
  KEEL_ASSIGN_OR_RETURN(auto events, store_->ReadHistory(d.execution.run_id, 1));
  proto::History h;
  h.set_workflow_id(d.execution.workflow_id);
  h.set_run_id(d.execution.run_id);
  for (auto& e : events) *h.add_events() = std::move(e);
  return h;
}

Result<WorkflowDescription> HistoryService::Describe(const std::string& workflow_id,
                                                     const std::string& run_id) {
  WorkflowDescription d;
  std::optional<ExecutionRow> row;
  if (run_id.empty()) {
    KEEL_ASSIGN_OR_RETURN(row, store_->ReadCurrentExecution(workflow_id));
  } else {
    KEEL_ASSIGN_OR_RETURN(row, store_->ReadExecution(run_id));
  }
  if (!row || row->workflow_id != workflow_id) {
    return Status::NotFound("workflow '" + workflow_id + "' not found", "workflow_not_found");
  }
  d.execution = std::move(*row);
  KEEL_ASSIGN_OR_RETURN(d.pending_tasks, store_->ListTasksOfRun(d.execution.run_id));
  return d;
}

// ---- Worker API -------------------------------------------------------------------

void HistoryService::CompleteWorkflowTask(
    const TaskRow& task, int64_t seen_through, std::vector<proto::Command> commands, Done done,
    std::shared_ptr<std::vector<proto::HistoryEvent>> appended) {
  for (const auto& cmd : commands) {
    Status v = ValidateCommand(cmd);
    if (!v.ok()) {
      proto::Failure f;
      f.set_type("BadCommand");
      f.set_message(v.message());
      f.set_code(v.reason());
      FailWorkflowTask(task, f, [done, v](const Status& s) { done(s.ok() ? v : s); });
      return;
    }
  }
  auto cmds = std::make_shared<std::vector<proto::Command>>(std::move(commands));
  auto rejected = std::make_shared<bool>(false);
  Run(
      [this, task, seen_through, cmds, rejected, appended](Txn& txn, Effects& fx) -> Status {
        *rejected = false;
        if (appended) appended->clear();
        Ctx c{txn, fx, matcher_, options_};
        KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(txn, task));
        KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(txn, task.run_id));
        if (exec.status != ExecutionStatus::kRunning || exec.wt_task_id != task.id) {
          return StaleTask(task);  // (a closed run has no tasks left: CloseRun removed them)
        }
        int64_t version = exec.version;
        Millis now = txn.Now();
        bool unseen = exec.next_event_id - 1 > seen_through;
        bool closing = false;
        for (const auto& cmd : *cmds) {
          auto k = cmd.attributes_case();
          if (k == proto::Command::kCompleteWorkflow || k == proto::Command::kFailWorkflow ||
              k == proto::Command::kCancelWorkflow || k == proto::Command::kContinueAsNew) {
            closing = true;
          }
        }
        if (closing && unseen) {
          // New inputs arrived while the code decided to close: it must see them first.
          cur.lease_owner.clear();
          cur.visible_at = now;
          cur.deadline = persistence::ComputeTaskDeadline(cur);
          KEEL_RETURN_IF_ERROR(txn.UpdateTask(cur));
          fx.notify.emplace_back(cur.kind, cur.queue);
          *rejected = true;
          return Status::Ok();
        }
        EventWriter w(exec, now);
        auto* started = w.Add()->mutable_workflow_task_started();
        started->set_identity(task.lease_owner);
        started->set_attempt(cur.attempt);
        auto* completed = w.Add()->mutable_workflow_task_completed();
        completed->set_seen_through_event_id(seen_through);
        completed->set_identity(task.lease_owner);
        KEEL_RETURN_IF_ERROR(txn.DeleteTask(task.id));
        exec.wt_task_id = 0;
        exec.wt_failure.clear();
        std::vector<proto::HistoryEvent> inputs;  // results of commands, after the commands
        for (const auto& cmd : *cmds) {
          if (exec.status != ExecutionStatus::kRunning) break;
          switch (cmd.attributes_case()) {
            case proto::Command::kScheduleActivity: {
              const auto& a = cmd.schedule_activity();
              auto* e = w.Add()->mutable_activity_task_scheduled();
              e->set_activity_id(a.activity_id());
              e->set_activity_type(a.activity_type());
              *e->mutable_input() = a.input();
              *e->mutable_options() = a.options();
              KEEL_RETURN_IF_ERROR(CreateActivityTask(c, exec, *e));
              break;
            }
            case proto::Command::kStartTimer: {
              const auto& a = cmd.start_timer();
              auto* e = w.Add()->mutable_timer_started();
              e->set_timer_id(a.timer_id());
              e->set_duration_ms(a.duration_ms());
              e->set_fire_at_ms(now + a.duration_ms());
              TimerRow t{0, exec.workflow_id, exec.run_id, a.timer_id(), now + a.duration_ms()};
              KEEL_RETURN_IF_ERROR(txn.InsertTimer(t).status());
              fx.Wake(t.fire_at);
              break;
            }
            case proto::Command::kCancelTimer: {
              w.Add()->mutable_timer_canceled()->set_timer_id(cmd.cancel_timer().timer_id());
              KEEL_RETURN_IF_ERROR(
                  txn.DeleteTimerByName(exec.run_id, cmd.cancel_timer().timer_id()).status());
              break;
            }
            case proto::Command::kRequestCancelActivity: {
              const std::string& id = cmd.request_cancel_activity().activity_id();
              w.Add()->mutable_activity_task_cancel_requested()->set_activity_id(id);
              KEEL_ASSIGN_OR_RETURN(auto at, txn.FindActivityTask(exec.run_id, id));
              // Leased to this process in this very transaction: not running yet.
              auto eager = at ? std::find_if(fx.eager.begin(), fx.eager.end(),
                                             [&](const TaskRow& t) { return t.id == at->id; })
                              : fx.eager.end();
              const bool was_eager = eager != fx.eager.end();
              if (was_eager) {
                auto slot = std::find(fx.reserved.begin(), fx.reserved.end(),
                                      std::make_pair(eager->kind, eager->queue));
                if (slot != fx.reserved.end()) fx.reserved.erase(slot);
                if (matcher_) matcher_->Release(eager->kind, eager->queue);
                fx.eager.erase(eager);
              }
              if (at && (at->lease_owner.empty() || was_eager)) {
                // Not running: cancelled at once.
                KEEL_RETURN_IF_ERROR(txn.DeleteTask(at->id));
                w.Add()->mutable_activity_task_canceled()->set_activity_id(id);
              } else if (at) {
                // Running: its next heartbeat says so, and it is not retried.
                proto::ActivityTaskInfo info;
                info.ParseFromString(at->info);
                info.set_cancel_requested(true);
                at->info = info.SerializeAsString();
                KEEL_RETURN_IF_ERROR(txn.UpdateTask(*at));
              }
              break;
            }
            case proto::Command::kRecordMarker: {
              const auto& a = cmd.record_marker();
              auto* e = w.Add()->mutable_marker_recorded();
              e->set_marker_name(a.marker_name());
              e->set_marker_id(a.marker_id());
              *e->mutable_details() = a.details();
              break;
            }
            case proto::Command::kCompleteWorkflow: {
              *w.Add()->mutable_workflow_execution_completed()->mutable_result() =
                  cmd.complete_workflow().result();
              exec.result = cmd.complete_workflow().result().SerializeAsString();
              KEEL_RETURN_IF_ERROR(CloseRun(c, exec, ExecutionStatus::kCompleted));
              break;
            }
            case proto::Command::kFailWorkflow: {
              *w.Add()->mutable_workflow_execution_failed()->mutable_failure() =
                  cmd.fail_workflow().failure();
              exec.failure = cmd.fail_workflow().failure().SerializeAsString();
              KEEL_RETURN_IF_ERROR(CloseRun(c, exec, ExecutionStatus::kFailed));
              break;
            }
            case proto::Command::kCancelWorkflow: {
              *w.Add()->mutable_workflow_execution_cancelled()->mutable_details() =
                  cmd.cancel_workflow().details();
              KEEL_RETURN_IF_ERROR(CloseRun(c, exec, ExecutionStatus::kCancelled));
              break;
            }
            case proto::Command::kStartChildWorkflow:
              KEEL_RETURN_IF_ERROR(StartChild(c, exec, cmd.start_child_workflow(), w, inputs));
              break;
            case proto::Command::kRequestCancelChildWorkflow: {
              const std::string& id = cmd.request_cancel_child_workflow().child_id();
              w.Add()->mutable_request_cancel_child_workflow_execution()->set_child_id(id);
              KEEL_ASSIGN_OR_RETURN(auto children, txn.ListOpenChildren(exec.run_id));
              for (auto& child : children) {
                proto::ParentInfo p;
                p.ParseFromString(child.parent);
                if (p.child_id() != id) continue;
                KEEL_RETURN_IF_ERROR(RequestCancelRun(
                    c, std::move(child), "cancel requested by parent " + exec.workflow_id,
                    exec.workflow_id));
              }
              break;  // (a child that already closed reports that instead)
            }
            case proto::Command::kContinueAsNew: {
              const auto& a = cmd.continue_as_new();
              NewRun next;
              next.workflow_id = exec.workflow_id;
              next.workflow_type =
                  a.workflow_type().empty() ? exec.workflow_type : a.workflow_type();
              next.task_queue = a.task_queue().empty() ? exec.task_queue : a.task_queue();
              next.run_id = NewTimeOrderedUuid(now);
              next.input = a.input();
              next.seed = RandomSeed();
              next.continued_from = exec.run_id;
              next.parent = exec.parent;
              auto* e = w.Add()->mutable_workflow_execution_continued_as_new();
              e->set_new_run_id(next.run_id);
              *e->mutable_input() = a.input();
              e->set_workflow_type(next.workflow_type);
              e->set_task_queue(next.task_queue);
              KEEL_RETURN_IF_ERROR(CloseRun(c, exec, ExecutionStatus::kContinuedAsNew));
              KEEL_RETURN_IF_ERROR(CommitRun(c, exec, version, w));
              return CreateRun(c, next);
            }
            default:
              return Status::InvalidArgument(
                  "unsupported command " + std::to_string(static_cast<int>(cmd.attributes_case())),
                  "bad_command");
          }
        }
        if (exec.status == ExecutionStatus::kRunning) {
          for (const auto& in : inputs) w.Add()->MergeFrom(in);
          if (unseen || !inputs.empty()) KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
        }
        KEEL_RETURN_IF_ERROR(CommitRun(c, exec, version, w));
        if (appended) *appended = w.events();
        return Status::Ok();
      },
      [done, rejected](const Status& s) {
        if (s.ok() && *rejected) {
          done(Status::ConditionFailed(
              "the workflow closed while new events were unseen; the task runs again",
              "unhandled_events"));
        } else {
          done(s);
        }
      },
      0, task.id);
}

void HistoryService::FailWorkflowTask(const TaskRow& task, const proto::Failure& failure,
                                      Done done) {
  Run(
      [this, task, failure](Txn& txn, Effects& fx) -> Status {
        KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(txn, task));
        KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(txn, task.run_id));
        Millis next = txn.Now() + WorkflowTaskBackoff(cur.attempt);
        cur.attempt += 1;
        cur.lease_owner.clear();
        cur.lease_expires = 0;
        cur.visible_at = next;
        cur.deadline = persistence::ComputeTaskDeadline(cur);
        KEEL_RETURN_IF_ERROR(txn.UpdateTask(cur));
        fx.Wake(next);
        fx.notify.emplace_back(cur.kind, cur.queue);
        int64_t version = exec.version;
        exec.wt_failure = failure.SerializeAsString();
        return txn.UpdateExecution(exec, version);
      },
      std::move(done), 0, task.id);
}

void HistoryService::CompleteActivity(const TaskRow& task, const json::value& result, Done done) {
  proto::Payload payload = ToPayload(result);
  Status size = CheckPayload("activity result", payload.data().size());
  if (!size.ok()) {
    proto::Failure f;
    f.set_type("PayloadTooLarge");
    f.set_message(size.message());
    f.set_non_retryable(true);
    FailActivity(task, f, std::move(done));
    return;
  }
  Run(
      [this, task, payload](Txn& txn, Effects& fx) -> Status {
        Ctx c{txn, fx, matcher_, options_};
        KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(txn, task));
        KEEL_RETURN_IF_ERROR(txn.DeleteTask(cur.id));
        KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(txn, cur.run_id));
        if (exec.status != ExecutionStatus::kRunning) return Status::Ok();
        proto::ActivityTaskInfo info;
        info.ParseFromString(cur.info);
        int64_t version = exec.version;
        EventWriter w(exec, txn.Now());
        auto* s = w.Add()->mutable_activity_task_started();
        s->set_activity_id(cur.activity_id);
        s->set_attempt(cur.attempt);
        s->set_identity(cur.lease_owner);
        if (info.has_last_failure()) *s->mutable_last_failure() = info.last_failure();
        auto* e = w.Add()->mutable_activity_task_completed();
        e->set_activity_id(cur.activity_id);
        *e->mutable_result() = payload;
        e->set_identity(cur.lease_owner);
        KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
        return CommitRun(c, exec, version, w);
      },
      std::move(done), 0, task.id);
}

void HistoryService::FailActivity(const TaskRow& task, const proto::Failure& failure, Done done) {
  Run(
      [this, task, failure](Txn& txn, Effects& fx) -> Status {
        Ctx c{txn, fx, matcher_, options_};
        KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(txn, task));
        return RetryOrFailActivity(c, std::move(cur), failure, /*timed_out=*/false,
                                   /*was_started=*/true);
      },
      std::move(done), 0, task.id);
}

Status HistoryService::HeartbeatActivity(const TaskRow& task, const json::value& details) {
  proto::Payload payload = ToPayload(details);
  KEEL_RETURN_IF_ERROR(CheckPayload("heartbeat details", payload.data().size()));
  return RunSync([task, payload](Txn& txn, Effects& fx) -> Status {
    KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(txn, task));
    proto::ActivityTaskInfo info;
    info.ParseFromString(cur.info);
    if (info.cancel_requested()) {
      return Status::FailedPrecondition("the workflow cancelled this activity",
                                        "activity_cancelled");
    }
    Millis now = txn.Now();
    *info.mutable_heartbeat_details() = payload;
    info.set_last_heartbeat_ms(now);
    cur.info = info.SerializeAsString();
    Millis s2c = info.options().start_to_close_timeout_ms() > 0
                     ? info.options().start_to_close_timeout_ms()
                     : kDefaultStartToCloseMs;
    Millis hb = info.options().heartbeat_timeout_ms();
    cur.lease_expires = hb > 0 ? std::min(cur.started_at + s2c, now + hb) : cur.started_at + s2c;
    cur.deadline = persistence::ComputeTaskDeadline(cur);
    fx.Wake(cur.deadline);
    return txn.UpdateTask(cur);
  });
}

Result<std::vector<TaskRow>> HistoryService::LeaseTasks(const std::string& queue, TaskKind kind,
                                                        int limit) {
  KEEL_ASSIGN_OR_RETURN(auto rows, store_->PollTasks(queue, kind, options_.identity, limit));
  Effects fx;  // only the wake-up: the poll committed on its own, and is ours to deliver
  for (const auto& t : rows) fx.Wake(t.deadline);
  if (fx.wake && wake_hook_) wake_hook_(fx.wake);
  return rows;
}

Result<int64_t> HistoryService::DeleteExpiredRuns(Millis retention, int limit) {
  auto deleted = std::make_shared<int64_t>(0);
  KEEL_RETURN_IF_ERROR(RunSync([=](Txn& txn, Effects&) -> Status {
    KEEL_ASSIGN_OR_RETURN(*deleted, txn.DeleteClosedRuns(txn.Now() - retention, limit));
    return Status::Ok();
  }));
  if (*deleted > 0) {
    Metrics::Global()
        .GetCounter("keel_runs_deleted_total", "Closed runs deleted by retention.", {})
        .Inc(*deleted);
  }
  return *deleted;
}

// ---- Timer service API ------------------------------------------------------------

void HistoryService::FireTimer(const TimerRow& timer, Done done) {
  Run(
      [this, timer](Txn& txn, Effects& fx) -> Status {
        Ctx c{txn, fx, matcher_, options_};
        KEEL_ASSIGN_OR_RETURN(bool existed, txn.DeleteTimer(timer.id));
        if (!existed) return Status::Ok();  // another process fired it, or it was cancelled
        KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(txn, timer.run_id));
        if (exec.status != ExecutionStatus::kRunning) return Status::Ok();
        int64_t version = exec.version;
        EventWriter w(exec, txn.Now());
        w.Add()->mutable_timer_fired()->set_timer_id(timer.timer_id);
        KEEL_RETURN_IF_ERROR(ScheduleWorkflowTask(c, exec, w));
        return CommitRun(c, exec, version, w);
      },
      std::move(done));
}

void HistoryService::HandleTaskDeadline(int64_t task_id, Done done) {
  Run(
      [this, task_id](Txn& txn, Effects& fx) -> Status {
        Ctx c{txn, fx, matcher_, options_};
        KEEL_ASSIGN_OR_RETURN(auto found, txn.GetTask(task_id));
        Millis now = txn.Now();
        if (!found || found->deadline == 0 || found->deadline > now) return Status::Ok();
        TaskRow task = std::move(*found);
        if (task.kind == TaskKind::kWorkflow) {
          // The worker holding it died or stalled: offer it again.
          task.lease_owner.clear();
          task.lease_expires = 0;
          task.attempt += 1;
          task.visible_at = now;
          task.deadline = persistence::ComputeTaskDeadline(task);
          KEEL_RETURN_IF_ERROR(txn.UpdateTask(task));
          fx.notify.emplace_back(task.kind, task.queue);
          return Status::Ok();
        }
        proto::Failure f;
        bool started = !task.lease_owner.empty();
        if (task.close_deadline > 0 && now >= task.close_deadline) {
          f.set_type("ScheduleToCloseTimeout");
          f.set_non_retryable(true);
        } else if (!started && task.start_deadline > 0 && now >= task.start_deadline) {
          f.set_type("ScheduleToStartTimeout");
          f.set_non_retryable(true);
        } else if (started && now >= task.lease_expires) {
          proto::ActivityTaskInfo info;
          info.ParseFromString(task.info);
          Millis s2c = info.options().start_to_close_timeout_ms() > 0
                           ? info.options().start_to_close_timeout_ms()
                           : kDefaultStartToCloseMs;
          bool heartbeat = info.options().heartbeat_timeout_ms() > 0 &&
                           task.lease_expires < task.started_at + s2c;
          f.set_type(heartbeat ? "HeartbeatTimeout" : "StartToCloseTimeout");
        } else {
          return Status::Ok();
        }
        f.set_message("activity " + task.activity_id + " attempt " + std::to_string(task.attempt) +
                      ": " + f.type());
        f.set_code("activity_timeout");
        return RetryOrFailActivity(c, std::move(task), f, /*timed_out=*/true, started);
      },
      std::move(done), 0, task_id);
}

}  // namespace keel
