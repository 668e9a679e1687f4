// The local engine client: the store and the history service of this process.

#include "engine/client.h"

#include "engine/engine.h"
#include "engine/inspect.h"
#include "engine/replayer.h"

namespace keel {
namespace {

Status FieldError(std::string_view field, const std::string& what) {
  return Status::InvalidArgument(std::string(field) + ": " + what, "validation_failed");
}

json::object QueueJson(const persistence::QueueStats& q,
                       const std::vector<persistence::PollerRow>& pollers, Millis now) {
  json::array who;
  for (const auto& p : pollers) {
    if (p.queue != q.queue) continue;
    who.push_back({{"identity", p.identity},
                   {"kind", p.kind == persistence::TaskKind::kWorkflow ? "workflow" : "activity"},
                   {"last_poll_at_ms", p.last_poll_at},
                   {"last_poll_age_ms", std::max<Millis>(0, now - p.last_poll_at)}});
  }
  return json::object{{"queue", q.queue},
                      {"ready", q.ready},
                      {"leased", q.leased},
                      {"delayed", q.delayed},
                      {"oldest_ready_age_ms",
                       q.oldest_ready_at > 0 ? std::max<Millis>(0, now - q.oldest_ready_at) : 0},
                      {"pollers", std::move(who)}};
}

// Every queue with tasks or recent pollers, by name; a queue without tasks has zeros.
Result<std::map<std::string, persistence::QueueStats>> QueuesOf(
    persistence::Store& store, std::vector<persistence::PollerRow>* pollers) {
  KEEL_ASSIGN_OR_RETURN(auto stats, store.QueueStatistics());
  KEEL_ASSIGN_OR_RETURN(*pollers,
                        store.ListPollers(store.clock()->Now() - EngineClient::kPollersRecentMs));
  std::map<std::string, persistence::QueueStats> out;
  for (auto& q : stats) out[q.queue] = std::move(q);
  for (const auto& p : *pollers) out[p.queue].queue = p.queue;
  return out;
}

json::object TaskJson(const persistence::TaskRow& t, Millis now) {
  using persistence::TaskKind;
  proto::ActivityTaskInfo info;
  if (t.kind == TaskKind::kActivity) info.ParseFromString(t.info);
  const char* state =
      !t.lease_owner.empty() ? "leased" : (t.visible_at > now ? "delayed" : "ready");
  json::object o{{"task_id", t.id},
                 {"kind", t.kind == TaskKind::kWorkflow ? "workflow" : "activity"},
                 {"workflow_id", t.workflow_id},
                 {"run_id", t.run_id},
                 {"activity_type", info.activity_type()},
                 {"attempt", t.attempt},
                 {"state", state},
                 {"visible_at_ms", t.visible_at},
                 {"lease_owner", t.lease_owner},
                 {"last_failure", nullptr}};
  if (info.has_last_failure()) o["last_failure"] = FailureJson(info.last_failure());
  return o;
}

class LocalEngineClient final : public EngineClient {
 public:
  LocalEngineClient(persistence::Store* store, HistoryService* history, const Registry* registry,
                    std::string identity)
      : store_(store), history_(history), registry_(registry), identity_(std::move(identity)) {}
  // Owning its store, with a client engine (one that runs nothing) on it.
  LocalEngineClient(std::unique_ptr<persistence::Store> store, const Registry* registry,
                    std::string identity)
      : owned_store_(std::move(store)),
        owned_engine_(MakeClientEngine(owned_store_.get(), registry)),
        store_(owned_store_.get()),
        history_(&owned_engine_->history()),
        registry_(registry),
        identity_(std::move(identity)) {}

  Result<json::object> Start(const StartWorkflowRequest& req) override {
    const WorkflowDef* def = registry_->FindWorkflow(req.workflow_type);
    if (!def) {
      std::string known;
      for (const auto& t : registry_->WorkflowTypes()) known += (known.empty() ? "" : ", ") + t;
      return FieldError(
          "type", "unknown workflow type '" + req.workflow_type + "'; registered types: " + known);
    }
    StartWorkflowRequest r = req;
    if (r.task_queue.empty()) r.task_queue = def->task_queue;
    if (r.identity.empty()) r.identity = identity_;
    KEEL_ASSIGN_OR_RETURN(auto started, history_->StartWorkflow(r));
    return json::object{
        {"workflow_id", r.workflow_id}, {"run_id", started.run_id}, {"started", started.started}};
  }

  Result<json::object> Describe(const std::string& id, const std::string& run) override {
    KEEL_ASSIGN_OR_RETURN(auto d, history_->Describe(id, run));
    return DescriptionJson(d);
  }

  Result<json::object> List(const persistence::ListFilter& filter) override {
    KEEL_ASSIGN_OR_RETURN(auto page, store_->ListExecutions(filter));
    json::array rows;
    for (const auto& r : page.rows) rows.push_back(ExecutionJson(r));
    return json::object{{"workflows", std::move(rows)},
                        {"next_cursor", page.next_cursor.empty() ? json::value(nullptr)
                                                                 : json::value(page.next_cursor)}};
  }

  Result<json::object> Count(const persistence::ListFilter& filter) override {
    KEEL_ASSIGN_OR_RETURN(auto counts, store_->CountExecutions(filter));
    json::object by_status;
    int64_t total = 0;
    for (int s = 1; s <= static_cast<int>(persistence::ExecutionStatus::kTimedOut); ++s) {
      auto status = static_cast<persistence::ExecutionStatus>(s);
      auto it = counts.find(status);
      const int64_t n = it == counts.end() ? 0 : it->second;
      by_status[persistence::ExecutionStatusName(status)] = n;
      total += n;
    }
    return json::object{{"total", total}, {"by_status", std::move(by_status)}};
  }

  Result<proto::History> History(const std::string& id, const std::string& run) override {
    return history_->ReadRunHistory(id, run);
  }

  Status Signal(const std::string& id, const std::string& name, const json::value& input,
                const std::string& request_id) override {
    return history_->SignalWorkflow(id, name, input, identity_, request_id);
  }

  Result<json::value> Query(const std::string& id, const std::string& run, const std::string& name,
                            const json::value& args) override {
    KEEL_ASSIGN_OR_RETURN(auto h, history_->ReadRunHistory(id, run));
    return QueryHistory(*registry_, h, name, args);
  }

  Status Cancel(const std::string& id, const std::string& reason,
                const std::string& request_id) override {
    return history_->RequestCancelWorkflow(id, reason, identity_, request_id);
  }

  Status Terminate(const std::string& id, const std::string& reason) override {
    return history_->TerminateWorkflow(id, reason, identity_);
  }

  Result<std::string> Reset(const ResetRequest& req) override {
    ResetRequest r = req;
    if (r.identity.empty()) r.identity = identity_;
    return history_->ResetWorkflow(r);
  }

  Result<json::object> TaskQueues() override {
    std::vector<persistence::PollerRow> pollers;
    KEEL_ASSIGN_OR_RETURN(auto queues, QueuesOf(*store_, &pollers));
    const Millis now = store_->clock()->Now();
    json::array out;
    for (const auto& [name, q] : queues) out.push_back(QueueJson(q, pollers, now));
    return json::object{{"queues", std::move(out)}};
  }

  Result<json::object> DescribeTaskQueue(const std::string& queue, int limit) override {
    std::vector<persistence::PollerRow> pollers;
    KEEL_ASSIGN_OR_RETURN(auto queues, QueuesOf(*store_, &pollers));
    KEEL_ASSIGN_OR_RETURN(auto tasks, store_->ListQueueTasks(queue, limit));
    const Millis now = store_->clock()->Now();
    persistence::QueueStats mine;
    mine.queue = queue;
    if (auto it = queues.find(queue); it != queues.end()) mine = it->second;
    json::array list;
    for (const auto& t : tasks) list.push_back(TaskJson(t, now));
    json::object out = QueueJson(mine, pollers, now);
    out["tasks"] = std::move(list);
    return out;
  }

 private:
  std::unique_ptr<persistence::Store> owned_store_;  // outlives the engine
  std::unique_ptr<Engine> owned_engine_;
  persistence::Store* store_;
  HistoryService* history_;
  const Registry* registry_;
  std::string identity_;
};

}  // namespace

Result<persistence::ExecutionStatus> ParseStatusFilter(std::string_view name) {
  if (auto s = persistence::ParseExecutionStatus(name)) return *s;
  return FieldError("status",
                    "must be running, completed, failed, cancelled, terminated, continued_as_new "
                    "or timed_out");
}

std::unique_ptr<EngineClient> MakeLocalEngineClient(persistence::Store* store,
                                                    HistoryService* history,
                                                    const Registry* registry,
                                                    std::string identity) {
  return std::make_unique<LocalEngineClient>(store, history, registry, std::move(identity));
}

std::unique_ptr<EngineClient> OpenLocalEngineClient(std::unique_ptr<persistence::Store> store,
                                                    const Registry* registry,
                                                    std::string identity) {
  return std::make_unique<LocalEngineClient>(std::move(store), registry, std::move(identity));
}

}  // namespace keel
