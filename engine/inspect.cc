#include "engine/inspect.h"

#include <google/protobuf/stubs/strutil.h>
#include <google/protobuf/util/json_util.h>

#include <utility>

#include "engine/history_events.h"
#include "engine/payload.h"

namespace keel {

json::value DecodePayloadBytes(const std::string& bytes) {
  if (bytes.empty()) return nullptr;
  proto::Payload p;
  if (!p.ParseFromString(bytes)) return "<undecodable>";
  auto v = FromPayload(p);
  return v.ok() ? v.value() : json::value(p.data());
}

json::value FailureJson(const proto::Failure& f) {
  json::object o{
      {"type", f.type()}, {"message", f.message()}, {"non_retryable", f.non_retryable()}};
  if (!f.code().empty()) o["code"] = f.code();
  return o;
}

json::value DecodeFailureBytes(const std::string& bytes) {
  if (bytes.empty()) return nullptr;
  proto::Failure f;
  if (!f.ParseFromString(bytes)) return "<undecodable>";
  return FailureJson(f);
}

json::object ExecutionJson(const persistence::ExecutionRow& r) {
  json::object o{
      {"workflow_id", r.workflow_id},
      {"run_id", r.run_id},
      {"type", r.workflow_type},
      {"status", persistence::ExecutionStatusName(r.status)},
      {"task_queue", r.task_queue},
      {"start_time", FormatUtc(r.start_time)},
      {"close_time", r.close_time ? json::value(FormatUtc(r.close_time)) : json::value(nullptr)},
      {"history_length", r.next_event_id - 1},
      {"result", DecodePayloadBytes(r.result)},
      {"failure", DecodeFailureBytes(r.failure)}};
  if (!r.parent.empty()) {
    proto::ParentInfo p;
    p.ParseFromString(r.parent);
    o["parent"] = json::object{{"workflow_id", p.workflow_id()}, {"run_id", p.run_id()}};
  }
  return o;
}

json::object DescriptionJson(const WorkflowDescription& d) {
  json::object o = ExecutionJson(d.execution);
  json::array pending;
  for (const auto& t : d.pending_tasks) {
    if (t.kind != persistence::TaskKind::kActivity) continue;
    proto::ActivityTaskInfo info;
    info.ParseFromString(t.info);
    pending.push_back(json::object{
        {"activity_id", t.activity_id},
        {"activity_type", info.activity_type()},
        {"task_queue", t.queue},
        {"state", t.lease_owner.empty() ? "scheduled" : "started"},
        {"attempt", t.attempt},
        {"next_attempt_at",
         t.lease_owner.empty() ? json::value(FormatUtc(t.visible_at)) : json::value(nullptr)},
        {"last_failure",
         info.has_last_failure() ? FailureJson(info.last_failure()) : json::value(nullptr)}});
  }
  o["pending_activities"] = pending;
  o["workflow_task_failure"] = DecodeFailureBytes(d.execution.wt_failure);
  return o;
}

void DecodePayloadsInJson(json::value& v, bool replace) {
  if (v.is_array()) {
    for (auto& x : v.as_array()) DecodePayloadsInJson(x, replace);
    return;
  }
  if (!v.is_object()) return;
  json::object& o = v.as_object();
  const json::value* enc = o.if_contains("encoding");
  if (enc && enc->is_string() && enc->as_string() == "json/plain") {
    proto::Payload p;
    p.set_encoding("json/plain");
    const json::value* data = o.if_contains("data");
    if (data && data->is_string()) {
      std::string raw;
      google::protobuf::Base64Unescape(std::string(data->as_string()), &raw);
      p.set_data(raw);
    }
    auto decoded = FromPayload(p);
    json::value d = decoded.ok() ? decoded.value() : json::value(nullptr);
    if (replace) {
      v = std::move(d);
    } else {
      o["decoded"] = std::move(d);
    }
    return;
  }
  for (auto& [k, x] : o) DecodePayloadsInJson(x, replace);
}

std::string EventDetails(const proto::HistoryEvent& e, size_t max_chars) {
  std::string text;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(e, &text, o);
  auto v = ParseJson(text);
  if (!v.ok() || !v->is_object()) return "";
  json::object& obj = v->as_object();
  obj.erase("event_id");
  obj.erase("event_time_ms");
  if (obj.empty()) return "";
  json::value attrs = obj.begin()->value();  // the one attributes field
  DecodePayloadsInJson(attrs, /*replace=*/true);
  std::string out = json::serialize(attrs);
  if (out == "{}") return "";
  if (out.size() > max_chars) out = out.substr(0, max_chars - 3) + "...";
  return out;
}

namespace {

constexpr std::pair<const char*, proto::WorkflowIdReusePolicy> kReusePolicies[] = {
    {"allow_duplicate", proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE},
    {"allow_duplicate_failed_only", proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY},
    {"reject_duplicate", proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE},
};

}  // namespace

Result<proto::WorkflowIdReusePolicy> ParseReusePolicy(std::string_view name) {
  if (name.empty()) return proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE;
  for (const auto& [n, p] : kReusePolicies) {
    if (name == n) return p;
  }
  return Status::InvalidArgument(
      "must be allow_duplicate, allow_duplicate_failed_only or reject_duplicate",
      "validation_failed");
}

const char* ReusePolicyName(proto::WorkflowIdReusePolicy policy) {
  for (const auto& [n, p] : kReusePolicies) {
    if (policy == p) return n;
  }
  return kReusePolicies[0].first;
}

}  // namespace keel
