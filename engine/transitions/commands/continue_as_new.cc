// continue_as_new: the run closes, and a new run of the same workflow id starts with
// a fresh history (after this run's events are written; see Completion::next).
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Apply(Completion& c, const proto::Command& cmd) {
  const auto& a = cmd.continue_as_new();
  const ExecutionRow& exec = c.exec;
  NewRun next;
  next.workflow_id = exec.workflow_id;
  next.workflow_type = a.workflow_type().empty() ? exec.workflow_type : a.workflow_type();
  next.task_queue = a.task_queue().empty() ? exec.task_queue : a.task_queue();
  next.run_id = c.tx.NewRunId();
  next.input = a.input();
  next.seed = c.tx.NewSeed();
  next.continued_from = exec.run_id;
  next.parent = exec.parent;
  auto* e = c.w.Add()->mutable_workflow_execution_continued_as_new();
  e->set_new_run_id(next.run_id);
  *e->mutable_input() = a.input();
  e->set_workflow_type(next.workflow_type);
  e->set_task_queue(next.task_queue);
  c.next = std::move(next);
  return CloseRun(c.tx, c.exec, ExecutionStatus::kContinuedAsNew);
}

}  // namespace

const CommandHandler kContinueAsNew{NoCheck, Apply, true};

}  // namespace keel::transitions
