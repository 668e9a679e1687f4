// request_cancel_activity: an activity not running yet is cancelled at once; a running
// one learns it at its next heartbeat, and is not retried.
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Apply(Completion& c, const proto::Command& cmd) {
  const std::string& id = cmd.request_cancel_activity().activity_id();
  c.w.Add()->mutable_activity_task_cancel_requested()->set_activity_id(id);
  KEEL_ASSIGN_OR_RETURN(auto task, c.tx.FindActivityTask(c.exec.run_id, id));
  if (!task) return Status::Ok();  // it finished already; its result tells
  if (task->lease_owner.empty()) {
    c.tx.DeleteTask(task->id);
    c.w.Add()->mutable_activity_task_canceled()->set_activity_id(id);
    return Status::Ok();
  }
  proto::ActivityTaskInfo info;
  info.ParseFromString(task->info);
  info.set_cancel_requested(true);
  task->info = info.SerializeAsString();
  c.tx.UpdateTask(*task);
  return Status::Ok();
}

}  // namespace

const CommandHandler kRequestCancelActivity{NoCheck, Apply, false};

}  // namespace keel::transitions
