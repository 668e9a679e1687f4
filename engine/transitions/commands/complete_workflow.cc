// complete_workflow: the run completes with its result.
#include "engine/payload.h"
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Check(const proto::Command& cmd) {
  return CheckPayload("workflow result", cmd.complete_workflow().result().data().size());
}

Status Apply(Completion& c, const proto::Command& cmd) {
  const auto& result = cmd.complete_workflow().result();
  *c.w.Add()->mutable_workflow_execution_completed()->mutable_result() = result;
  c.exec.result = result.SerializeAsString();
  return CloseRun(c.tx, c.exec, ExecutionStatus::kCompleted);
}

}  // namespace

const CommandHandler kCompleteWorkflow{Check, Apply, true};

}  // namespace keel::transitions
