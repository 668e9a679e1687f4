#include "engine/inspect.h"

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

}  // namespace keel
