// record_marker: a MarkerRecorded event (side effects, versions), nothing else.
#include "engine/transitions/commands/commands.h"

namespace keel::transitions {
namespace {

Status Apply(Completion& c, const proto::Command& cmd) {
  const auto& a = cmd.record_marker();
  auto* e = c.w.Add()->mutable_marker_recorded();
  e->set_marker_name(a.marker_name());
  e->set_marker_id(a.marker_id());
  *e->mutable_details() = a.details();
  return Status::Ok();
}

}  // namespace

const CommandHandler kRecordMarker{NoCheck, Apply, false};

}  // namespace keel::transitions
