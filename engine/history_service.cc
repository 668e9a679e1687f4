#include "engine/history_service.h"

#include <spdlog/spdlog.h>

#include <future>
#include <random>

#include "common/ids.h"
#include "common/metrics.h"
#include "engine/transitions/apply.h"
#include "engine/transitions/commands/commands.h"
#include "engine/transitions/inputs.h"

namespace keel {

using persistence::ExecutionRow;
using persistence::TaskKind;
using persistence::TaskRow;
using persistence::TimerRow;
using persistence::Txn;
using transitions::Input;
using transitions::Transition;

namespace {

uint64_t RandomSeed() {
  thread_local std::mt19937_64 gen(std::random_device{}());
  return gen();
}

const transitions::Fresh& Fresh() {
  static const transitions::Fresh fresh{[](Millis now) { return NewTimeOrderedUuid(now); },
                                        [] { return RandomSeed(); }};
  return fresh;
}

// The rows a batch may fetch for this input ahead of its Decide (see ReadHint).
persistence::ReadHint HintFor(const transitions::Reads& r) {
  persistence::ReadHint hint;
  if (!r.tasks.empty()) hint.task_id = *r.tasks.begin();
  if (!r.runs.empty()) hint.run_id = *r.runs.begin();
  if (!r.workflows.empty()) hint.workflow_id = *r.workflows.begin();
  return hint;
}

Histogram& TransactionSeconds() {
  static Histogram& h = Metrics::Global().GetHistogram(
      "keel_store_transaction_seconds",
      "Engine state transitions: submit to durable commit (group commit included).", {});
  return h;
}

void CountCommitted(const transitions::Effects& fx) {
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

Status ShuttingDown() {
  return Status::Unavailable("shutting down before the store accepted it", "shutting_down");
}

}  // namespace

// ---- Plumbing -------------------------------------------------------------------

HistoryService::HistoryService(persistence::Store* store, Matcher* matcher,
                               HistoryServiceOptions options)
    : store_(store), matcher_(matcher), options_(std::move(options)) {
  if (options_.identity.empty()) options_.identity = "keel-" + NewRandomUuid().substr(0, 8);
  transition_options_ = std::make_unique<transitions::Options>(transitions::Options{
      options_.identity, options_.workflow_task_timeout, options_.max_history_events});
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
    Transition none;
    if (r.finish) r.finish(ShuttingDown(), none);
    in_flight_.fetch_sub(1);
  }
  // A completion callback may still be running after it told its caller (who may be
  // what destroys us); its last touch of this object is the in_flight_ decrement.
  while (in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void HistoryService::RetryLater(Millis delay, InputPtr in, Finish finish, int attempt) {
  {
    std::lock_guard<std::mutex> l(retry_mu_);
    retries_.emplace(std::chrono::steady_clock::now() + std::chrono::milliseconds(delay),
                     PendingRetry{std::move(in), std::move(finish), attempt});
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
    Run(std::move(r.in), std::move(r.finish), r.attempt);
    l.lock();
  }
}

// Load, then Decide; a Decide that needs more rows gets them and starts over.
Status HistoryService::Decide(Txn& txn, const Input& in, Transition& out) {
  constexpr int kMaxReadRounds = 16;  // each round adds rows; real inputs need 1 to 3
  transitions::Snapshot snap(txn.Now());
  KEEL_RETURN_IF_ERROR(transitions::Load(txn, in.reads, snap));
  for (int round = 0;; ++round) {
    transitions::Tx tx(snap, *transition_options_, Fresh());
    Status s = in.decide(tx);
    if (s.ok()) {
      out = tx.Take();
      return s;
    }
    if (!transitions::IsNeedRead(s)) return s;
    if (round == kMaxReadRounds) {
      return Status::Internal(std::string("transition ") + in.kind + " kept asking for reads");
    }
    KEEL_RETURN_IF_ERROR(transitions::Load(txn, tx.needed(), snap));
  }
}

void HistoryService::Run(InputPtr in, Finish finish, int attempt) {
  if (attempt == 0) in_flight_.fetch_add(1);
  // The transition the store committed, held (with its dispatch slots) until its
  // effects are applied. A run of the TxnFn replaces the one before it.
  auto held = std::make_shared<Transition>();
  const auto submitted = std::chrono::steady_clock::now();
  const persistence::ReadHint hint = HintFor(in->reads);
  store_->Submit(
      [this, in, held](Txn& txn) -> Status {
        *held = Transition();
        Transition t;
        KEEL_RETURN_IF_ERROR(Decide(txn, *in, t));
        transitions::ReserveEagerSlots(t, matcher_, *transition_options_, txn.Now());
        KEEL_RETURN_IF_ERROR(transitions::Apply(txn, t));
        *held = std::move(t);
        return Status::Ok();
      },
      [this, in, finish, held, attempt, submitted](const Status& s) {
        TransactionSeconds().Observe(SecondsSince(submitted));
        if (s.ok()) {
          Finished(s, *held, finish);
          return;
        }
        *held = Transition();  // its slots go back
        // Locks and version conflicts pass; a full disk rarely does, so it surfaces soon.
        const int budget = s.reason() == "disk_full" ? 3 : options_.max_transient_retries;
        const bool retry = (s.transient() || s.reason() == "disk_full") &&
                           s.reason() != "stale_task" && attempt < budget;
        if (retry) {
          Millis delay = std::min<Millis>(10LL << std::min(attempt, 6), 1000);
          if (attempt == 3) spdlog::warn("store busy, retrying: {}", s.ToString());
          RetryLater(delay, in, finish, attempt + 1);
          return;
        }
        Finished(s, *held, finish);
      },
      hint);
}

// After the commit (or the final failure): the caller first, then the effects. The
// caller goes first so that whoever waits for in_flight() == 0 (Engine::Stop) may
// then destroy what `finish` touches.
void HistoryService::Finished(const Status& s, Transition& t, const Finish& finish) {
  if (!s.ok()) {
    if (finish) finish(s, t);
    in_flight_.fetch_sub(1);
    return;
  }
  auto& fx = t.fx;
  CountCommitted(fx);
  if (finish) finish(s, t);
  for (size_t i = 0; i < fx.eager.size(); ++i) fx.slots[i].Deliver(fx.eager[i]);
  if (matcher_) {
    for (const auto& [k, q] : fx.notify) matcher_->Notify(k, q);
  }
  if (fx.wake && wake_hook_) wake_hook_(fx.wake);
  if (!fx.closed.empty()) {
    std::lock_guard<std::mutex> l(close_mu_);
    for (const auto& hook : close_hooks_) {
      for (const auto& row : fx.closed) hook(row);
    }
  }
  in_flight_.fetch_sub(1);
}

void HistoryService::Run(Input in, Done done) {
  Run(std::make_shared<const Input>(std::move(in)),
      [done = std::move(done)](const Status& s, Transition& t) {
        if (done) done(s.ok() ? t.outcome : s);
      });
}

Result<std::shared_ptr<Transition>> HistoryService::RunSync(Input in) {
  std::promise<Status> p;
  auto f = p.get_future();
  auto out = std::make_shared<Transition>();
  Run(std::make_shared<const Input>(std::move(in)), [&p, out](const Status& s, Transition& t) {
    if (s.ok()) {
      out->reply = t.reply;
      out->outcome = t.outcome;
    }
    p.set_value(s);
  });
  KEEL_RETURN_IF_ERROR(f.get());
  return out;
}

// ---- Client API -----------------------------------------------------------------

Result<StartWorkflowResult> HistoryService::StartWorkflow(const StartWorkflowRequest& req) {
  if (req.workflow_id.empty() || req.workflow_id.size() > 255) {
    return Status::InvalidArgument("workflow id must be 1 to 255 characters", "invalid_argument");
  }
  if (req.workflow_type.empty()) {
    return Status::InvalidArgument("workflow type is required", "invalid_argument");
  }
  transitions::NewRun run;
  run.workflow_id = req.workflow_id;
  run.workflow_type = req.workflow_type;
  run.task_queue = req.task_queue.empty() ? "workflows" : req.task_queue;
  run.run_id = NewTimeOrderedUuid(store_->clock()->Now());
  run.input = ToPayload(req.input);
  run.seed = RandomSeed();
  KEEL_RETURN_IF_ERROR(CheckPayload("workflow input", run.input.data().size()));
  KEEL_ASSIGN_OR_RETURN(auto t, RunSync(transitions::Start(std::move(run), req.reuse_policy)));
  return StartWorkflowResult{t->reply.run_id, t->reply.started};
}

Status HistoryService::SignalWorkflow(const std::string& workflow_id,
                                      const std::string& signal_name, const json::value& input,
                                      const std::string& identity, const std::string& request_id) {
  if (signal_name.empty()) return Status::InvalidArgument("signal name is required");
  proto::Payload payload = ToPayload(input);
  KEEL_RETURN_IF_ERROR(CheckPayload("signal input", payload.data().size()));
  std::string rid = request_id.empty() ? NewRandomUuid() : request_id;
  return RunSync(transitions::Signal(workflow_id, signal_name, std::move(payload), identity, rid))
      .status();
}

Status HistoryService::RequestCancelWorkflow(const std::string& workflow_id,
                                             const std::string& reason, const std::string& identity,
                                             const std::string& request_id) {
  std::string rid = request_id.empty() ? NewRandomUuid() : request_id;
  return RunSync(transitions::RequestCancel(workflow_id, reason, identity, rid)).status();
}

Status HistoryService::TerminateWorkflow(const std::string& workflow_id, const std::string& reason,
                                         const std::string& identity) {
  return RunSync(transitions::Terminate(workflow_id, reason, identity)).status();
}

Result<std::string> HistoryService::ResetWorkflow(const ResetRequest& req) {
  // The history is read outside the transaction, which then checks that the run has
  // not moved on since; if it has, read again.
  for (int attempt = 0;; ++attempt) {
    KEEL_ASSIGN_OR_RETURN(WorkflowDescription d, Describe(req.workflow_id, req.run_id));
    KEEL_ASSIGN_OR_RETURN(auto events, store_->ReadHistory(d.execution.run_id, 1));
    KEEL_ASSIGN_OR_RETURN(transitions::ResetPlan plan,
                          transitions::PlanReset(d.execution, events, req.event_id,
                                                 NewTimeOrderedUuid(store_->clock()->Now()),
                                                 req.reason, req.identity));
    auto t = RunSync(transitions::Reset(std::move(plan)));
    if (t.ok()) return (*t)->reply.run_id;
    if (t.status().reason() != "reset_raced" || attempt >= 5) return t.status();
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
    Status v = transitions::CheckCommand(cmd);
    if (!v.ok()) {
      proto::Failure f;
      f.set_type("BadCommand");
      f.set_message(v.message());
      f.set_code(v.reason());
      FailWorkflowTask(task, f, [done, v](const Status& s) { done(s.ok() ? v : s); });
      return;
    }
  }
  Run(std::make_shared<const Input>(
          transitions::CompleteWorkflowTask(task, seen_through, std::move(commands))),
      [done = std::move(done), appended](const Status& s, Transition& t) {
        if (s.ok() && appended) *appended = std::move(t.appended);
        if (done) done(s.ok() ? t.outcome : s);
      });
}

void HistoryService::FailWorkflowTask(const TaskRow& task, const proto::Failure& failure,
                                      Done done) {
  Run(transitions::FailWorkflowTask(task, failure), std::move(done));
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
  Run(transitions::CompleteActivity(task, std::move(payload)), std::move(done));
}

void HistoryService::FailActivity(const TaskRow& task, const proto::Failure& failure, Done done) {
  Run(transitions::FailActivity(task, failure), std::move(done));
}

Status HistoryService::HeartbeatActivity(const TaskRow& task, const json::value& details) {
  proto::Payload payload = ToPayload(details);
  KEEL_RETURN_IF_ERROR(CheckPayload("heartbeat details", payload.data().size()));
  return RunSync(transitions::HeartbeatActivity(task, std::move(payload))).status();
}

Result<std::vector<TaskRow>> HistoryService::LeaseTasks(const std::string& queue, TaskKind kind,
                                                        int limit) {
  KEEL_ASSIGN_OR_RETURN(auto rows, store_->PollTasks(queue, kind, options_.identity, limit));
  // Only the wake-up: the poll committed on its own, and is ours to deliver.
  transitions::Effects fx;
  for (const auto& t : rows) fx.Wake(t.deadline);
  if (fx.wake && wake_hook_) wake_hook_(fx.wake);
  return rows;
}

Result<int64_t> HistoryService::DeleteExpiredRuns(Millis retention, int limit) {
  KEEL_ASSIGN_OR_RETURN(auto t, RunSync(transitions::Retention(retention, limit)));
  if (t->reply.deleted > 0) {
    Metrics::Global()
        .GetCounter("keel_runs_deleted_total", "Closed runs deleted by retention.", {})
        .Inc(t->reply.deleted);
  }
  return t->reply.deleted;
}

// ---- Timer service API ------------------------------------------------------------

void HistoryService::FireTimer(const TimerRow& timer, Done done) {
  Run(transitions::FireTimer(timer), std::move(done));
}

void HistoryService::HandleTaskDeadline(int64_t task_id, Done done) {
  Run(transitions::TaskDeadline(task_id), std::move(done));
}

void HistoryService::HandleLostLease(const persistence::TaskRow& task, Done done) {
  Run(transitions::LeaseLost(task.id, task.lease_owner, task.lease_token), std::move(done));
}

}  // namespace keel
