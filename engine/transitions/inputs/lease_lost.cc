// A task whose lease holder is gone (its process died on this machine): taken back at
// once instead of when the lease runs out.
#include "engine/transitions/inputs.h"
#include "engine/transitions/steps.h"

namespace keel::transitions {

Input LeaseLost(int64_t task_id, std::string owner, int64_t lease_token) {
  Input in{"lease_lost", {}, nullptr};
  in.reads.tasks.insert(task_id);
  in.decide = [task_id, owner = std::move(owner), lease_token](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(auto found, tx.GetTask(task_id));
    if (!found || found->lease_owner != owner || found->lease_token != lease_token) {
      return Status::Ok();
    }
    if (found->kind == TaskKind::kWorkflow) {
      OfferWorkflowTaskAgain(tx, std::move(*found));
      return Status::Ok();
    }
    proto::Failure f;
    f.set_type("WorkerLost");
    f.set_message("activity " + found->activity_id + " attempt " + std::to_string(found->attempt) +
                  ": its worker " + owner + " exited");
    f.set_code("worker_lost");
    return RetryOrFailActivity(tx, std::move(*found), f, /*timed_out=*/true, /*was_started=*/true);
  };
  return in;
}

}  // namespace keel::transitions
