#include "engine/replayer.h"

#include <google/protobuf/util/json_util.h>

#include "engine/inspect.h"
#include "engine/payload.h"
#include "engine/workflow_instance.h"

namespace keel {

namespace {

Result<std::unique_ptr<internal::WorkflowInstance>> Replayed(const Registry& registry,
                                                             const proto::History& history) {
  if (history.events_size() == 0 || !history.events(0).has_workflow_execution_started()) {
    return Status::InvalidArgument("history does not begin with workflow_execution_started",
                                   "history_corrupt");
  }
  const auto& started = history.events(0).workflow_execution_started();
  const WorkflowDef* def = registry.FindWorkflow(started.workflow_type());
  if (!def) {
    return Status::NotFound("workflow type '" + started.workflow_type() + "' is not registered",
                            internal::kReasonUnknownWorkflowType);
  }
  WorkflowInfo info{started.workflow_id(), started.run_id(), started.workflow_type(),
                    started.task_queue()};
  auto inst = std::make_unique<internal::WorkflowInstance>(def, info);
  std::vector<proto::HistoryEvent> events(history.events().begin(), history.events().end());
  Result<std::vector<proto::Command>> r = Status::Internal("not run");
  try {
    r = inst->Apply(events);
  } catch (const std::exception& x) {
    return Status::Internal(std::string("workflow code threw: ") + x.what(),
                            internal::kReasonWorkflowPanic);
  }
  if (!r.ok()) return r.status();
  return inst;
}

}  // namespace

Result<ReplayReport> ReplayHistory(const Registry& registry, const proto::History& history) {
  KEEL_ASSIGN_OR_RETURN(auto inst, Replayed(registry, history));
  ReplayReport report;
  report.events = history.events_size();
  report.closed = inst->closed();
  return report;
}

Result<json::value> QueryHistory(const Registry& registry, const proto::History& history,
                                 const std::string& name, const json::value& args) {
  KEEL_ASSIGN_OR_RETURN(auto inst, Replayed(registry, history));
  return inst->Query(name, args);
}

Result<proto::History> ParseHistoryJson(const std::string& text) {
  proto::History h;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // the "decoded" copies HistoryToJson adds
  auto st = google::protobuf::util::JsonStringToMessage(text, &h, o);
  if (!st.ok()) {
    return Status::InvalidArgument("not a history: " + std::string(st.message()),
                                   "malformed_history");
  }
  return h;
}

std::string HistoryToJson(const proto::History& history) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(history, &out, o);
  auto v = ParseJson(out);
  if (!v.ok()) return out;
  DecodePayloadsInJson(*v, /*replace=*/false);
  return json::serialize(*v);
}

}  // namespace keel
