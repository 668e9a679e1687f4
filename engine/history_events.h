#pragma once
// Facts about history event kinds, in one place: which are inputs to workflow
// code, which record a command, and how commands and events are compared.

#include <string>

#include "proto/history.pb.h"

namespace keel {

// Snake-case name of the event kind, e.g. "activity_task_completed".
std::string EventTypeName(const proto::HistoryEvent& e);
// Events that workflow code reacts to: started, results, fired timers, signals...
bool IsInputEvent(const proto::HistoryEvent& e);
// Events written for a command of a completed workflow task.
bool IsCommandEvent(const proto::HistoryEvent& e);
// Whether `e` is the event recorded for command `c` (same kind and identity).
bool CommandMatchesEvent(const proto::Command& c, const proto::HistoryEvent& e);
std::string DescribeEvent(const proto::HistoryEvent& e);
std::string DescribeCommand(const proto::Command& c);

}  // namespace keel
