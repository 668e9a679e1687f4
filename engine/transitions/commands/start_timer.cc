// start_timer: the TimerStarted event and a durable timer.
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Check(const proto::Command& cmd) {
  if (cmd.start_timer().duration_ms() < 0) {
    return Status::InvalidArgument("negative timer duration", "bad_command");
  }
  return Status::Ok();
}

Status Apply(Completion& c, const proto::Command& cmd) {
  const auto& a = cmd.start_timer();
  const Millis fire_at = c.tx.Now() + a.duration_ms();
  auto* e = c.w.Add()->mutable_timer_started();
  e->set_timer_id(a.timer_id());
  e->set_duration_ms(a.duration_ms());
  e->set_fire_at_ms(fire_at);
  c.tx.InsertTimer(TimerRow{0, c.exec.workflow_id, c.exec.run_id, a.timer_id(), fire_at});
  c.tx.fx().Wake(fire_at);
  return Status::Ok();
}

}  // namespace

const CommandHandler kStartTimer{Check, Apply, false};

}  // namespace keel::transitions
