// request_cancel_child_workflow: the child run, if still open, gets a cancel request.
// (A child that closed already reports that instead.)
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Apply(Completion& c, const proto::Command& cmd) {
  const std::string& id = cmd.request_cancel_child_workflow().child_id();
  c.w.Add()->mutable_request_cancel_child_workflow_execution()->set_child_id(id);
  KEEL_ASSIGN_OR_RETURN(auto children, c.tx.ListOpenChildren(c.exec.run_id));
  for (auto& child : children) {
    proto::ParentInfo p;
    p.ParseFromString(child.parent);
    if (p.child_id() != id) continue;
    KEEL_RETURN_IF_ERROR(RequestCancelRun(c.tx, std::move(child),
                                          "cancel requested by parent " + c.exec.workflow_id,
                                          c.exec.workflow_id));
  }
  return Status::Ok();
}

}  // namespace

const CommandHandler kRequestCancelChildWorkflow{NoCheck, Apply, false};

}  // namespace keel::transitions
