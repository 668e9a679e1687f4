// A worker reports that its workflow task failed (the code threw, or a command was
// bad). No history is written: the failure is kept on the run, and the task is
// offered again after a backoff.
#include <algorithm>

#include "engine/transitions/inputs.h"

namespace keel::transitions {
namespace {

Millis Backoff(int attempt) {
  Millis d = 1000LL << std::min(attempt - 1, 6);
  return std::min<Millis>(d, 60'000);
}

}  // namespace

Input FailWorkflowTask(TaskRow task, proto::Failure failure) {
  Input in{"workflow_task_failed", {}, nullptr};
  in.reads.tasks.insert(task.id);
  in.decide = [task = std::move(task), failure = std::move(failure)](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(tx, task));
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(tx, task.run_id));
    const Millis next = tx.Now() + Backoff(cur.attempt);
    cur.attempt += 1;
    cur.lease_owner.clear();
    cur.lease_expires = 0;
    cur.visible_at = next;
    cur.deadline = persistence::ComputeTaskDeadline(cur);
    tx.UpdateTask(cur);
    tx.fx().Wake(next);
    tx.fx().notify.emplace_back(cur.kind, cur.queue);
    const int64_t version = exec.version;
    exec.wt_failure = failure.SerializeAsString();
    tx.UpdateExecution(exec, version);
    return Status::Ok();
  };
  return in;
}

}  // namespace keel::transitions
