#pragma once
// The commands a completed workflow task carries, one handler each (sdk-core gives
// each command kind a small state machine of its own). A handler checks its command
// before any transition runs, and applies it to the task's run: events through the
// Completion's EventWriter, rows through its Tx. The table is in table.cc.

#include <optional>
#include <vector>

#include "engine/transitions/steps.h"

namespace keel::transitions {

// The run a workflow task completion is about, as its commands change it.
struct Completion {
  Tx& tx;
  ExecutionRow& exec;  // handlers may close it; later commands are then ignored
  EventWriter& w;
  // What commands cause for the run (a child started, or not), appended after all of
  // the task's command events.
  std::vector<proto::HistoryEvent> inputs;
  // Continue-as-new: the run that starts once this one's events are written.
  std::optional<NewRun> next;
};

struct CommandHandler {
  Status (*check)(const proto::Command&);  // bad_command, payload_too_large
  Status (*apply)(Completion&, const proto::Command&);
  bool closes_run;  // the run ends with it (complete, fail, cancel, continue-as-new)
};

// The handler of a command kind; nullptr for a kind this engine does not know.
const CommandHandler* HandlerFor(proto::Command::AttributesCase kind);
// bad_command for an empty or unknown command, else the handler's check.
Status CheckCommand(const proto::Command& cmd);

// One per command kind, each in the file named after it.
extern const CommandHandler kScheduleActivity;
extern const CommandHandler kRequestCancelActivity;
extern const CommandHandler kStartTimer;
extern const CommandHandler kCancelTimer;
extern const CommandHandler kRecordMarker;
extern const CommandHandler kCompleteWorkflow;
extern const CommandHandler kFailWorkflow;
extern const CommandHandler kCancelWorkflow;
extern const CommandHandler kContinueAsNew;
extern const CommandHandler kStartChildWorkflow;
extern const CommandHandler kRequestCancelChildWorkflow;

// For handlers with nothing to check.
inline Status NoCheck(const proto::Command&) { return Status::Ok(); }

}  // namespace keel::transitions
