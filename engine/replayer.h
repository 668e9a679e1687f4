#pragma once
// Checks a stored history against the workflow code in this binary: replays it and
// reports nondeterminism (reason "nondeterminism") without writing anything. The
// safe-deploy check, and what tests/testdata histories are run through.

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/registry.h"
#include "proto/history.pb.h"

namespace keel {

struct ReplayReport {
  int64_t events = 0;
  bool closed = false;  // the code reached the end the history records
};

Result<ReplayReport> ReplayHistory(const Registry& registry, const proto::History& history);

// Replays `history` (all of it, including inputs no workflow task has seen yet) and
// answers query `name` from the state the code reached. Works on open and closed runs.
Result<json::value> QueryHistory(const Registry& registry, const proto::History& history,
                                 const std::string& name, const json::value& args);

// Reads a History from protobuf JSON (the tests/testdata and `history --output json` format).
Result<proto::History> ParseHistoryJson(const std::string& text);
// Protobuf JSON of the history, with "decoded": <value> added beside every JSON payload
// for people (ParseHistoryJson ignores it; the base64 "data" is what counts).
std::string HistoryToJson(const proto::History& history);

}  // namespace keel
