// A client starts a run.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input Start(NewRun run, proto::WorkflowIdReusePolicy policy) {
  Input in{"start", {}, nullptr};
  in.reads.workflows.insert(run.workflow_id);
  in.decide = [run = std::move(run), policy](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(auto cur, tx.GetCurrentRunId(run.workflow_id));
    if (cur) {
      KEEL_ASSIGN_OR_RETURN(ExecutionRow prev, LoadRun(tx, *cur));
      if (prev.status == ExecutionStatus::kRunning) {
        tx.transition().reply.run_id = prev.run_id;
        // Our own run when this is a retry of a commit whose answer was lost.
        tx.transition().reply.started = prev.run_id == run.run_id;
        return Status::Ok();
      }
      if (auto refused = RefuseStart(prev, policy)) return *refused;
    }
    CreateRun(tx, run);
    tx.transition().reply.run_id = run.run_id;
    tx.transition().reply.started = true;
    return Status::Ok();
  };
  return in;
}

}  // namespace keel::transitions
