// A durable timer is due: TimerFired, and the workflow task that shows it to the code.
// Moot when another process fired it first, or the run cancelled it.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input FireTimer(TimerRow timer) {
  Input in{"timer_fired", {}, nullptr};
  in.reads.runs.insert(timer.run_id);
  in.decide = [timer = std::move(timer)](Tx& tx) -> Status {
    tx.DeleteTimer(timer.id);  // first: a timer gone already makes it moot
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRun(tx, timer.run_id));
    if (exec.status != ExecutionStatus::kRunning) return Status::Ok();
    const int64_t version = exec.version;
    EventWriter w(exec, tx.Now());
    w.Add()->mutable_timer_fired()->set_timer_id(timer.timer_id);
    ScheduleWorkflowTask(tx, exec, w);
    return CommitRun(tx, exec, version, w);
  };
  return in;
}

}  // namespace keel::transitions
