#include "engine/workflow_instance.h"

#include "common/ids.h"
#include "engine/combinators.h"
#include "engine/errors.h"
#include "engine/history_events.h"
#include "engine/payload.h"

namespace keel {
namespace internal {

namespace {
thread_local ReadyQueue* tls_ready_queue = nullptr;

// Makes `q` the current activation for combinators while alive.
class ActivationScope {
 public:
  explicit ActivationScope(ReadyQueue* q) : prev_(tls_ready_queue) { tls_ready_queue = q; }
  ~ActivationScope() { tls_ready_queue = prev_; }

 private:
  ReadyQueue* prev_;
};

proto::Failure FailureFromException(std::exception_ptr e, bool* is_panic) {
  proto::Failure f;
  *is_panic = false;
  try {
    std::rethrow_exception(e);
  } catch (const ApplicationError& a) {
    f.set_type(a.type());
    f.set_message(a.what());
    f.set_non_retryable(a.non_retryable());
  } catch (const ActivityError& a) {
    f.set_type(a.type());
    f.set_message(a.what());
  } catch (const ChildWorkflowError& a) {
    f.set_type(a.type());
    f.set_message(a.what());
  } catch (const CanceledError& c) {
    f.set_type("Canceled");
    f.set_message(c.what());
  } catch (const std::exception& x) {
    *is_panic = true;
    f.set_type("Panic");
    f.set_message(x.what());
  } catch (...) {
    *is_panic = true;
    f.set_type("Panic");
    f.set_message("unknown exception");
  }
  return f;
}
}  // namespace

ReadyQueue* CurrentReadyQueue() { return tls_ready_queue; }

class WorkflowInstance::Channel final : public SignalChannel {
 public:
  explicit Channel(ReadyQueue* q) : q_(q) {}
  Future<json::value> Receive() override {
    auto f = MakeFuture<json::value>(q_);
    if (!buffered_.empty()) {
      f.state()->Resolve(std::move(buffered_.front()));
      buffered_.pop_front();
    } else {
      waiting_.push_back(f);
    }
    return f;
  }
  std::optional<json::value> TryReceive() override {
    if (buffered_.empty()) return std::nullopt;
    json::value v = std::move(buffered_.front());
    buffered_.pop_front();
    return v;
  }
  void Push(json::value v) {
    if (!waiting_.empty()) {
      auto f = waiting_.front();
      waiting_.pop_front();
      f.state()->Resolve(std::move(v));
    } else {
      buffered_.push_back(std::move(v));
    }
  }

 private:
  ReadyQueue* q_;
  std::deque<json::value> buffered_;
  std::deque<Future<json::value>> waiting_;
};

WorkflowInstance::WorkflowInstance(const WorkflowDef* def, WorkflowInfo info)
    : def_(def), info_(std::move(info)) {
  event_times_.push_back(0);
}

WorkflowInstance::~WorkflowInstance() {
  // Destroy coroutine frames before the futures they wait on.
  ready_.clear();
  root_.reset();
}

void WorkflowInstance::AddCommand(proto::Command c) {
  if (closed_) return;  // nothing after the run closes
  unconfirmed_.push_back(std::move(c));
}

Future<json::value> WorkflowInstance::ExecuteActivity(const std::string& activity_type,
                                                      json::value input,
                                                      const ActivityOptions& options) {
  std::string id = NextId();
  auto f = MakeFuture<json::value>(this);
  proto::Command c;
  auto* a = c.mutable_schedule_activity();
  a->set_activity_id(id);
  a->set_activity_type(activity_type);
  *a->mutable_input() = ToPayload(input);
  *a->mutable_options() = ToProto(options);
  AddCommand(std::move(c));
  activities_[id] = PendingActivity{activity_type, f};
  return f;
}

Timer WorkflowInstance::NewTimer(Millis duration) {
  std::string id = NextId();
  auto f = MakeFuture<bool>(this);
  proto::Command c;
  c.mutable_start_timer()->set_timer_id(id);
  c.mutable_start_timer()->set_duration_ms(std::max<Millis>(0, duration));
  AddCommand(std::move(c));
  timers_[id] = f;
  return Timer(id, f, [this, id]() {
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    proto::Command cc;
    cc.mutable_cancel_timer()->set_timer_id(id);
    AddCommand(std::move(cc));
    auto fut = it->second;
    timers_.erase(it);
    fut.state()->Resolve(false);
  });
}

SignalChannel& WorkflowInstance::GetSignalChannel(const std::string& name) {
  auto& ch = channels_[name];
  if (!ch) ch = std::make_unique<Channel>(this);
  return *ch;
}

ChildWorkflow WorkflowInstance::StartChildWorkflow(const std::string& workflow_type,
                                                   json::value input,
                                                   const ChildWorkflowOptions& options) {
  std::string id = NextId();
  std::string wid =
      options.workflow_id.empty() ? info_.workflow_id + "/" + id : options.workflow_id;
  auto started = MakeFuture<std::string>(this);
  auto result = MakeFuture<json::value>(this);
  proto::Command c;
  auto* a = c.mutable_start_child_workflow();
  a->set_child_id(id);
  a->set_workflow_id(wid);
  a->set_workflow_type(workflow_type);
  a->set_task_queue(options.task_queue.empty() ? info_.task_queue : options.task_queue);
  *a->mutable_input() = ToPayload(input);
  a->set_parent_close_policy(options.parent_close_policy);
  a->set_reuse_policy(options.reuse_policy);
  AddCommand(std::move(c));
  children_[id] = PendingChild{workflow_type, wid, started, result};
  return ChildWorkflow(wid, started, result, [this, id]() {
    proto::Command cc;
    cc.mutable_request_cancel_child_workflow()->set_child_id(id);
    AddCommand(std::move(cc));
  });
}

Result<json::value> WorkflowInstance::Query(const std::string& name, const json::value& args) {
  if (!root_ || root_->done()) {
    // (The code's locals, which handlers read, are gone once it returned.)
    return Status::FailedPrecondition(
        "the run has closed; queries answer open runs (describe shows a closed run's result)",
        "workflow_closed");
  }
  auto it = queries_.find(name);
  if (it == queries_.end()) {
    std::string known;
    for (const auto& [n, h] : queries_) known += (known.empty() ? "" : ", ") + n;
    return Status::NotFound(
        "the workflow answers no query '" + name + "'" +
            (known.empty() ? std::string(" (it has no query handlers)") : "; it answers: " + known),
        "unknown_query");
  }
  size_t before = unconfirmed_.size();
  json::value out;
  try {
    out = it->second(args);
  } catch (const std::exception& e) {
    return Status::FailedPrecondition(std::string("query handler failed: ") + e.what(),
                                      "query_failed");
  }
  if (unconfirmed_.size() != before) {
    unconfirmed_.resize(before);
    return Status::FailedPrecondition("query handler '" + name + "' made a command",
                                      "query_failed");
  }
  return out;
}

void WorkflowInstance::RequestCancelActivity(const Future<json::value>& activity) {
  for (auto it = activities_.begin(); it != activities_.end(); ++it) {
    if (it->second.future.state() != activity.state()) continue;
    proto::Command c;
    c.mutable_request_cancel_activity()->set_activity_id(it->first);
    AddCommand(std::move(c));
    auto f = it->second.future;
    activities_.erase(it);  // its later result, if any, is ignored
    f.state()->Fail(std::make_exception_ptr(CanceledError("activity cancelled")));
    return;
  }
}

Future<Unit> WorkflowInstance::CancelRequested() {
  if (!cancel_future_) {
    cancel_future_ = MakeFuture<Unit>(this);
    if (cancel_requested_) cancel_future_->state()->Resolve(Unit{});
  }
  return *cancel_future_;
}

std::string WorkflowInstance::NewUuid() {
  uint64_t hi = rng_();
  return UuidFromWords(hi, rng_());
}

json::value WorkflowInstance::SideEffect(const std::function<json::value()>& fn) {
  std::string id = NextId();
  json::value v;
  auto it = markers_ahead_.find("side_effect/" + id);
  if (replaying_ && it != markers_ahead_.end()) {
    auto parsed = FromPayload(it->second);
    v = parsed.ok() ? parsed.value() : json::value(nullptr);
  } else {
    v = fn();
  }
  proto::Command c;
  auto* m = c.mutable_record_marker();
  m->set_marker_name("side_effect");
  m->set_marker_id(id);
  *m->mutable_details() = ToPayload(v);
  AddCommand(std::move(c));
  return v;
}

int WorkflowInstance::GetVersion(const std::string& change_id, int min_supported,
                                 int max_supported) {
  auto known = versions_.find(change_id);
  if (known != versions_.end()) return known->second;
  int version;
  if (replaying_) {
    auto it = markers_ahead_.find("version/" + change_id);
    if (it == markers_ahead_.end()) {
      version = kDefaultVersion;  // the run predates the change: no marker, no command
      versions_[change_id] = version;
      if (version < min_supported) {
        throw std::runtime_error("version " + std::to_string(version) + " of change '" + change_id +
                                 "' is below the supported minimum");
      }
      return version;
    }
    auto parsed = FromPayload(it->second);
    version =
        parsed.ok() && parsed->is_int64() ? static_cast<int>(parsed->as_int64()) : kDefaultVersion;
  } else {
    version = max_supported;
  }
  versions_[change_id] = version;
  proto::Command c;
  auto* m = c.mutable_record_marker();
  m->set_marker_name("version");
  m->set_marker_id(change_id);
  *m->mutable_details() = ToPayload(json::value(version));
  AddCommand(std::move(c));
  if (version < min_supported || version > max_supported) {
    throw std::runtime_error("version " + std::to_string(version) + " of change '" + change_id +
                             "' is outside the supported range");
  }
  return version;
}

// The events that wake the workflow's code, each with its handler; any other event
// only records what the code already did.
Status WorkflowInstance::Deliver(const proto::HistoryEvent& e) {
  using E = proto::HistoryEvent;
  using Handler = void (WorkflowInstance::*)(const proto::HistoryEvent&);
  static const std::unordered_map<int, Handler> kHandlers = {
      {E::kActivityTaskCompleted, &WorkflowInstance::OnActivityCompleted},
      {E::kActivityTaskFailed, &WorkflowInstance::OnActivityFailed},
      {E::kActivityTaskTimedOut, &WorkflowInstance::OnActivityFailed},
      {E::kActivityTaskCanceled, &WorkflowInstance::OnActivityCanceled},
      {E::kTimerFired, &WorkflowInstance::OnTimerFired},
      {E::kWorkflowExecutionSignaled, &WorkflowInstance::OnSignaled},
      {E::kWorkflowExecutionCancelRequested, &WorkflowInstance::OnCancelRequested},
      {E::kChildWorkflowExecutionStarted, &WorkflowInstance::OnChildStarted},
      {E::kChildWorkflowExecutionCompleted, &WorkflowInstance::OnChildCompleted},
      {E::kChildWorkflowExecutionFailed, &WorkflowInstance::OnChildFailed},
      {E::kStartChildWorkflowExecutionFailed, &WorkflowInstance::OnChildFailed},
  };
  if (e.has_workflow_execution_started()) return OnStarted(e.workflow_execution_started());
  auto h = kHandlers.find(e.attributes_case());
  if (h != kHandlers.end()) (this->*h->second)(e);
  return Status::Ok();
}

Status WorkflowInstance::OnStarted(const proto::WorkflowExecutionStarted& a) {
  rng_.seed(a.random_seed());
  auto input = FromPayload(a.input());
  if (!input.ok()) {
    return Status::InvalidArgument("workflow input is not JSON: " + input.status().message(),
                                   "malformed_input");
  }
  root_.emplace(def_->fn(*this, std::move(input).value()));
  Schedule(root_->handle());
  return Status::Ok();
}

void WorkflowInstance::OnActivityCompleted(const proto::HistoryEvent& e) {
  auto it = activities_.find(e.activity_task_completed().activity_id());
  if (it == activities_.end()) return;
  auto v = FromPayload(e.activity_task_completed().result());
  auto f = it->second.future;
  activities_.erase(it);
  if (v.ok()) {
    f.state()->Resolve(std::move(v).value());
  } else {
    f.state()->Fail(std::make_exception_ptr(
        ActivityError("", "MalformedResult", v.status().message(), false, 1)));
  }
}

// ActivityTaskFailed or ActivityTaskTimedOut: the activity's future fails.
void WorkflowInstance::OnActivityFailed(const proto::HistoryEvent& e) {
  bool failed = e.has_activity_task_failed();
  const std::string& id =
      failed ? e.activity_task_failed().activity_id() : e.activity_task_timed_out().activity_id();
  const proto::Failure& f =
      failed ? e.activity_task_failed().failure() : e.activity_task_timed_out().failure();
  int attempt = failed ? e.activity_task_failed().attempt() : e.activity_task_timed_out().attempt();
  auto it = activities_.find(id);
  if (it == activities_.end()) return;
  auto fut = it->second.future;
  std::string type = it->second.type;
  activities_.erase(it);
  fut.state()->Fail(std::make_exception_ptr(
      ActivityError(type, f.type(), f.message(), !f.non_retryable(), attempt)));
}

void WorkflowInstance::OnActivityCanceled(const proto::HistoryEvent& e) {
  auto it = activities_.find(e.activity_task_canceled().activity_id());
  if (it == activities_.end()) return;
  auto fut = it->second.future;
  activities_.erase(it);
  fut.state()->Fail(std::make_exception_ptr(CanceledError("activity canceled")));
}

void WorkflowInstance::OnTimerFired(const proto::HistoryEvent& e) {
  auto it = timers_.find(e.timer_fired().timer_id());
  if (it == timers_.end()) return;  // cancelled before the code saw it fire
  auto f = it->second;
  timers_.erase(it);
  f.state()->Resolve(true);
}

void WorkflowInstance::OnSignaled(const proto::HistoryEvent& e) {
  auto v = FromPayload(e.workflow_execution_signaled().input());
  auto& ch = static_cast<Channel&>(GetSignalChannel(e.workflow_execution_signaled().signal_name()));
  ch.Push(v.ok() ? std::move(v).value() : json::value(nullptr));
}

void WorkflowInstance::OnCancelRequested(const proto::HistoryEvent&) {
  cancel_requested_ = true;
  if (cancel_future_) cancel_future_->state()->Resolve(Unit{});
}

void WorkflowInstance::OnChildStarted(const proto::HistoryEvent& e) {
  auto it = children_.find(e.child_workflow_execution_started().child_id());
  if (it != children_.end()) {
    it->second.started.state()->Resolve(e.child_workflow_execution_started().run_id());
  }
}

void WorkflowInstance::OnChildCompleted(const proto::HistoryEvent& e) {
  auto it = children_.find(e.child_workflow_execution_completed().child_id());
  if (it == children_.end()) return;
  auto child = it->second;
  children_.erase(it);
  auto v = FromPayload(e.child_workflow_execution_completed().result());
  if (v.ok()) {
    child.result.state()->Resolve(std::move(v).value());
  } else {
    child.result.state()->Fail(std::make_exception_ptr(ChildWorkflowError(
        child.type, child.workflow_id, "MalformedResult", v.status().message())));
  }
}

// ChildWorkflowExecutionFailed or StartChildWorkflowExecutionFailed: the child's
// futures fail (both, when it never started).
void WorkflowInstance::OnChildFailed(const proto::HistoryEvent& e) {
  bool start = e.has_start_child_workflow_execution_failed();
  const std::string& id = start ? e.start_child_workflow_execution_failed().child_id()
                                : e.child_workflow_execution_failed().child_id();
  const proto::Failure& f = start ? e.start_child_workflow_execution_failed().failure()
                                  : e.child_workflow_execution_failed().failure();
  auto it = children_.find(id);
  if (it == children_.end()) return;
  auto child = it->second;
  children_.erase(it);
  auto err = std::make_exception_ptr(
      ChildWorkflowError(child.type, child.workflow_id, f.type(), f.message()));
  if (start) child.started.state()->Fail(err);
  child.result.state()->Fail(err);
}

Status WorkflowInstance::RunUntilBlocked() {
  ActivationScope scope(this);
  while (!ready_.empty()) {
    auto h = ready_.front();
    ready_.pop_front();
    h.resume();
  }
  if (root_ && root_->done() && !closed_) {
    proto::Command c;
    std::optional<ContinueAsNewRequest> next;
    if (auto err = root_->error()) {
      try {
        std::rethrow_exception(err);
      } catch (ContinueAsNewRequest& r) {
        next = std::move(r);
      } catch (...) {
      }
    }
    if (next) {
      auto* a = c.mutable_continue_as_new();
      *a->mutable_input() = ToPayload(next->input);
      a->set_workflow_type(next->workflow_type);
      a->set_task_queue(next->task_queue);
    } else if (auto err = root_->error()) {
      bool panic = false;
      proto::Failure f = FailureFromException(err, &panic);
      if (panic) {
        return Status::Internal("workflow code threw " + f.message() +
                                    " (a bug, not a workflow failure; the task is retried)",
                                kReasonWorkflowPanic);
      }
      if (f.type() == "Canceled" && cancel_requested_) {
        // Code that gives up because it was asked to: the run ends cancelled.
        *c.mutable_cancel_workflow()->mutable_details() = ToPayload(json::value(f.message()));
      } else {
        *c.mutable_fail_workflow()->mutable_failure() = f;
      }
    } else {
      *c.mutable_complete_workflow()->mutable_result() = ToPayload(root_->value());
    }
    AddCommand(std::move(c));
    closed_ = true;
  }
  return Status::Ok();
}

Status WorkflowInstance::Match(const std::vector<const proto::HistoryEvent*>& recorded,
                               int64_t wt_event_id) {
  size_t n = std::max(recorded.size(), unconfirmed_.size());
  for (size_t i = 0; i < n; ++i) {
    const proto::Command* cmd = i < unconfirmed_.size() ? &unconfirmed_[i] : nullptr;
    const proto::HistoryEvent* ev = i < recorded.size() ? recorded[i] : nullptr;
    if (cmd && ev && CommandMatchesEvent(*cmd, *ev)) continue;
    return Status::FailedPrecondition(
        "nondeterminism in workflow task completed at event " + std::to_string(wt_event_id) +
            ", command " + std::to_string(i + 1) + ": history has " +
            (ev ? DescribeEvent(*ev) : std::string("nothing")) + " but the code made " +
            (cmd ? DescribeCommand(*cmd) : std::string("nothing")),
        kReasonNondeterminism);
  }
  unconfirmed_.clear();
  return Status::Ok();
}

Result<std::vector<proto::Command>> WorkflowInstance::Apply(
    const std::vector<proto::HistoryEvent>& events) {
  size_t i = 0;
  while (i < events.size()) {
    const proto::HistoryEvent& e = events[i];
    if (e.event_id() != last_event_id_ + 1) {
      return Status::Corruption("history gap: expected event " +
                                    std::to_string(last_event_id_ + 1) + ", got " +
                                    std::to_string(e.event_id()),
                                "history_corrupt");
    }
    last_event_id_ = e.event_id();
    event_times_.push_back(e.event_time_ms());
    ++i;
    if (IsInputEvent(e)) {
      inputs_.push_back(e);
      continue;
    }
    if (!e.has_workflow_task_completed()) {
      if (IsCommandEvent(e)) {
        return Status::Corruption("command event " + std::to_string(e.event_id()) +
                                      " does not follow a completed workflow task",
                                  "history_corrupt");
      }
      continue;  // workflow task scheduled/started/failed: bookkeeping only
    }
    // An activation that already happened: replay it and check its commands.
    int64_t seen = e.workflow_task_completed().seen_through_event_id();
    std::vector<const proto::HistoryEvent*> recorded;
    markers_ahead_.clear();
    while (i < events.size() && IsCommandEvent(events[i])) {
      const auto& ce = events[i];
      if (ce.event_id() != last_event_id_ + 1) {
        return Status::Corruption("history gap at event " + std::to_string(ce.event_id()),
                                  "history_corrupt");
      }
      last_event_id_ = ce.event_id();
      event_times_.push_back(ce.event_time_ms());
      if (ce.has_marker_recorded()) {
        markers_ahead_[ce.marker_recorded().marker_name() + "/" +
                       ce.marker_recorded().marker_id()] = ce.marker_recorded().details();
      }
      recorded.push_back(&ce);
      ++i;
    }
    replaying_ = true;
    if (seen >= 1 && seen < static_cast<int64_t>(event_times_.size())) now_ = event_times_[seen];
    while (!inputs_.empty() && inputs_.front().event_id() <= seen) {
      KEEL_RETURN_IF_ERROR(Deliver(inputs_.front()));
      inputs_.pop_front();
    }
    KEEL_RETURN_IF_ERROR(RunUntilBlocked());
    KEEL_RETURN_IF_ERROR(Match(recorded, e.event_id()));
    markers_ahead_.clear();
    replaying_ = false;
  }
  // The live activation: everything not yet delivered.
  if (!inputs_.empty()) {
    now_ = event_times_.back();
    while (!inputs_.empty()) {
      KEEL_RETURN_IF_ERROR(Deliver(inputs_.front()));
      inputs_.pop_front();
    }
    KEEL_RETURN_IF_ERROR(RunUntilBlocked());
  }
  return unconfirmed_;
}

}  // namespace internal
}  // namespace keel
