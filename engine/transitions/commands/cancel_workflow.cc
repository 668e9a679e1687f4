// cancel_workflow: the run ends cancelled (its code's answer to a cancel request).
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Apply(Completion& c, const proto::Command& cmd) {
  *c.w.Add()->mutable_workflow_execution_cancelled()->mutable_details() =
      cmd.cancel_workflow().details();
  return CloseRun(c.tx, c.exec, ExecutionStatus::kCancelled);
}

}  // namespace

const CommandHandler kCancelWorkflow{NoCheck, Apply, true};

}  // namespace keel::transitions
