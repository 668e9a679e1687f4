// cancel_timer: the TimerCanceled event, and the timer goes.
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Apply(Completion& c, const proto::Command& cmd) {
  const std::string& id = cmd.cancel_timer().timer_id();
  c.w.Add()->mutable_timer_canceled()->set_timer_id(id);
  c.tx.DeleteTimerByName(c.exec.run_id, id);
  return Status::Ok();
}

}  // namespace

const CommandHandler kCancelTimer{NoCheck, Apply, false};

}  // namespace keel::transitions
