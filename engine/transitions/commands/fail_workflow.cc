// fail_workflow: the run fails with its failure.
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Apply(Completion& c, const proto::Command& cmd) {
  const auto& failure = cmd.fail_workflow().failure();
  *c.w.Add()->mutable_workflow_execution_failed()->mutable_failure() = failure;
  c.exec.failure = failure.SerializeAsString();
  return CloseRun(c.tx, c.exec, ExecutionStatus::kFailed);
}

}  // namespace

const CommandHandler kFailWorkflow{NoCheck, Apply, true};

}  // namespace keel::transitions
