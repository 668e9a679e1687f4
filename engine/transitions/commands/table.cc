#include "engine/transitions/commands/commands.h"

namespace keel::transitions {

const CommandHandler* HandlerFor(proto::Command::AttributesCase kind) {
  using C = proto::Command;
  switch (kind) {
    case C::kScheduleActivity:
      return &kScheduleActivity;
    case C::kRequestCancelActivity:
      return &kRequestCancelActivity;
    case C::kStartTimer:
      return &kStartTimer;
    case C::kCancelTimer:
      return &kCancelTimer;
    case C::kRecordMarker:
      return &kRecordMarker;
    case C::kCompleteWorkflow:
      return &kCompleteWorkflow;
    case C::kFailWorkflow:
      return &kFailWorkflow;
    case C::kCancelWorkflow:
      return &kCancelWorkflow;
    case C::kContinueAsNew:
      return &kContinueAsNew;
    case C::kStartChildWorkflow:
      return &kStartChildWorkflow;
    case C::kRequestCancelChildWorkflow:
      return &kRequestCancelChildWorkflow;
    default:
      return nullptr;
  }
}

Status CheckCommand(const proto::Command& cmd) {
  if (cmd.attributes_case() == proto::Command::ATTRIBUTES_NOT_SET) {
    return Status::InvalidArgument("empty command", "bad_command");
  }
  const CommandHandler* h = HandlerFor(cmd.attributes_case());
  if (!h) {
    return Status::InvalidArgument(
        "unsupported command " + std::to_string(static_cast<int>(cmd.attributes_case())),
        "bad_command");
  }
  return h->check(cmd);
}

}  // namespace keel::transitions
