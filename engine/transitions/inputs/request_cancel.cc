// A client asks a running run to cancel; its code decides how.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input RequestCancel(std::string workflow_id, std::string reason, std::string identity,
                    std::string request_id) {
  Input in{"request_cancel", {}, nullptr};
  in.reads.workflows.insert(workflow_id);
  in.decide = [=](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRunning(tx, workflow_id));
    tx.InsertRequestId(exec.run_id, request_id);  // first: a repeat is moot
    return RequestCancelRun(tx, std::move(exec), reason, identity);
  };
  return in;
}

}  // namespace keel::transitions
