// A worker reports that an activity attempt failed: retried per its policy, or its
// final failure goes to the workflow.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input FailActivity(TaskRow task, proto::Failure failure) {
  Input in{"activity_failed", {}, nullptr};
  in.reads.tasks.insert(task.id);
  in.decide = [task = std::move(task), failure = std::move(failure)](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(tx, task));
    return RetryOrFailActivity(tx, std::move(cur), failure, /*timed_out=*/false,
                               /*was_started=*/true);
  };
  return in;
}

}  // namespace keel::transitions
