// start_child_workflow: the Initiated event, and in the same transition the child run
// itself. How that went (Started, or StartFailed when the id's reuse policy refuses)
// is an input for the parent, after the task's command events.
#include "engine/payload.h"
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Check(const proto::Command& cmd) {
  const auto& a = cmd.start_child_workflow();
  if (a.workflow_id().empty() || a.workflow_id().size() > 255 || a.workflow_type().empty()) {
    return Status::InvalidArgument(
        "start_child_workflow needs a workflow type and a workflow id of 1 to 255 characters",
        "bad_command");
  }
  return CheckPayload("child workflow input", a.input().data().size());
}

void StartFailed(Completion& c, const proto::StartChildWorkflowCommand& a, const Status& why) {
  auto* f = c.inputs.emplace_back().mutable_start_child_workflow_execution_failed();
  f->set_child_id(a.child_id());
  f->set_workflow_id(a.workflow_id());
  f->mutable_failure()->set_type(why.reason() == "workflow_already_started"
                                     ? "WorkflowAlreadyStarted"
                                     : "WorkflowIdReuseRejected");
  f->mutable_failure()->set_message(why.message());
  f->mutable_failure()->set_code(why.reason());
  f->mutable_failure()->set_non_retryable(true);
}

Status Apply(Completion& c, const proto::Command& cmd) {
  const auto& a = cmd.start_child_workflow();
  ExecutionRow& parent = c.exec;
  auto* ev = c.w.Add();
  auto* i = ev->mutable_child_workflow_execution_initiated();
  i->set_child_id(a.child_id());
  i->set_workflow_id(a.workflow_id());
  i->set_workflow_type(a.workflow_type());
  i->set_task_queue(a.task_queue().empty() ? parent.task_queue : a.task_queue());
  *i->mutable_input() = a.input();
  i->set_parent_close_policy(a.parent_close_policy());
  i->set_reuse_policy(a.reuse_policy());
  KEEL_ASSIGN_OR_RETURN(auto cur, c.tx.GetCurrentRunId(a.workflow_id()));
  if (cur) {
    KEEL_ASSIGN_OR_RETURN(ExecutionRow prev, LoadRun(c.tx, *cur));
    if (auto refused = RefuseStart(prev, a.reuse_policy())) {
      StartFailed(c, a, *refused);
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
  run.run_id = c.tx.NewRunId();
  run.input = a.input();
  run.seed = c.tx.NewSeed();
  run.parent = p.SerializeAsString();
  CreateRun(c.tx, run);
  auto* s = c.inputs.emplace_back().mutable_child_workflow_execution_started();
  s->set_child_id(a.child_id());
  s->set_workflow_id(a.workflow_id());
  s->set_run_id(run.run_id);
  return Status::Ok();
}

}  // namespace

const CommandHandler kStartChildWorkflow{Check, Apply, false};

}  // namespace keel::transitions
