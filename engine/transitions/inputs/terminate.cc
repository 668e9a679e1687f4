// A client ends a running run at once.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input Terminate(std::string workflow_id, std::string reason, std::string identity) {
  Input in{"terminate", {}, nullptr};
  in.reads.workflows.insert(workflow_id);
  in.decide = [=](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRunning(tx, workflow_id));
    return TerminateRun(tx, std::move(exec), reason, identity, /*report_to_parent=*/true);
  };
  return in;
}

}  // namespace keel::transitions
