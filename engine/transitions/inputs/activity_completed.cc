// A worker completes an activity: its Started and Completed events, and the workflow
// task that shows the result to the code.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input CompleteActivity(TaskRow task, proto::Payload result) {
  Input in{"activity_completed", {}, nullptr};
  in.reads.tasks.insert(task.id);
  in.decide = [task = std::move(task), result = std::move(result)](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(tx, task));
    tx.DeleteTask(cur.id);
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(tx, cur.run_id));
    if (exec.status != ExecutionStatus::kRunning) return Status::Ok();
    proto::ActivityTaskInfo info;
    info.ParseFromString(cur.info);
    const int64_t version = exec.version;
    EventWriter w(exec, tx.Now());
    auto* s = w.Add()->mutable_activity_task_started();
    s->set_activity_id(cur.activity_id);
    s->set_attempt(cur.attempt);
    s->set_identity(cur.lease_owner);
    if (info.has_last_failure()) *s->mutable_last_failure() = info.last_failure();
    auto* e = w.Add()->mutable_activity_task_completed();
    e->set_activity_id(cur.activity_id);
    *e->mutable_result() = result;
    e->set_identity(cur.lease_owner);
    ScheduleWorkflowTask(tx, exec, w);
    return CommitRun(tx, exec, version, w);
  };
  return in;
}

}  // namespace keel::transitions
