// schedule_activity: the ActivityTaskScheduled event and the task of its first attempt.
#include "engine/payload.h"
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Check(const proto::Command& cmd) {
  if (cmd.schedule_activity().activity_type().empty()) {
    return Status::InvalidArgument("schedule_activity without an activity type", "bad_command");
  }
  return CheckPayload("activity input", cmd.schedule_activity().input().data().size());
}

Status Apply(Completion& c, const proto::Command& cmd) {
  const auto& a = cmd.schedule_activity();
  auto* e = c.w.Add()->mutable_activity_task_scheduled();
  e->set_activity_id(a.activity_id());
  e->set_activity_type(a.activity_type());
  *e->mutable_input() = a.input();
  *e->mutable_options() = a.options();
  CreateActivityTask(c.tx, c.exec, *e);
  return Status::Ok();
}

}  // namespace

const CommandHandler kScheduleActivity{Check, Apply, false};

}  // namespace keel::transitions
