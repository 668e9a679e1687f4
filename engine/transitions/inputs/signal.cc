// A client signals a running run.
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input Signal(std::string workflow_id, std::string name, proto::Payload payload,
             std::string identity, std::string request_id) {
  Input in{"signal", {}, nullptr};
  in.reads.workflows.insert(workflow_id);
  in.decide = [=](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(ExecutionRow exec, LoadRunning(tx, workflow_id));
    tx.InsertRequestId(exec.run_id, request_id);  // first: a repeat is moot
    const int64_t version = exec.version;
    EventWriter w(exec, tx.Now());
    auto* s = w.Add()->mutable_workflow_execution_signaled();
    s->set_signal_name(name);
    *s->mutable_input() = payload;
    s->set_identity(identity);
    ScheduleWorkflowTask(tx, exec, w);
    return CommitRun(tx, exec, version, w);
  };
  return in;
}

}  // namespace keel::transitions
