#pragma once
// Runs, failures and payloads as JSON for people: what `keel workflow describe|list`
// and GET /v1/workflows show. One place, so the CLI and the API say the same thing.

#include <string>
#include <string_view>

#include "common/json.h"
#include "engine/history_service.h"

namespace keel {

// A serialized proto::Payload as its JSON value (null when empty).
json::value DecodePayloadBytes(const std::string& bytes);
json::value FailureJson(const proto::Failure& f);
// A serialized proto::Failure as JSON (null when empty).
json::value DecodeFailureBytes(const std::string& bytes);
// workflow_id, run_id, type, status, task_queue, times, history_length, result,
// failure, parent (child runs).
json::object ExecutionJson(const persistence::ExecutionRow& r);
// ExecutionJson plus pending_activities (attempt, state, last failure) and
// workflow_task_failure.
json::object DescriptionJson(const WorkflowDescription& d);

// A workflow id reuse policy by its name: allow_duplicate (also ""),
// allow_duplicate_failed_only, reject_duplicate. Anything else: kInvalidArgument
// naming them.
Result<proto::WorkflowIdReusePolicy> ParseReusePolicy(std::string_view name);
// The name ParseReusePolicy reads.
const char* ReusePolicyName(proto::WorkflowIdReusePolicy policy);

// Walks protobuf JSON and decodes every json/plain payload ({encoding, data}): adds
// "decoded" beside it, or (`replace`) puts the decoded value in its place.
void DecodePayloadsInJson(json::value& v, bool replace);
// An event's attributes as compact JSON with payloads decoded, cut at `max_chars`:
// the DETAILS column of `keel workflow history`.
std::string EventDetails(const proto::HistoryEvent& e, size_t max_chars = 160);

}  // namespace keel
