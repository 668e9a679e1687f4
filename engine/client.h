#pragma once
// An engine client: what operators do to workflows, wherever the engine runs. The
// local client works on a store in this process; RemoteEngineClient
// (http/engine_client.h) reaches a keel serve's engine API, which answers through a
// local client. Both speak the API's JSON shapes (engine/inspect.h), so `keel workflow`,
// `keel taskqueue` and GET /v1/... show the same thing. Errors are Statuses with the
// API's codes (docs/errors.md).

#include <memory>
#include <string>

#include "common/json.h"
#include "engine/history_service.h"
#include "engine/registry.h"

namespace keel {

class EngineClient {
 public:
  virtual ~EngineClient() = default;

  // {workflow_id, run_id, started}. An empty task queue is the type's own.
  virtual Result<json::object> Start(const StartWorkflowRequest& req) = 0;
  // DescriptionJson of the run (empty: the current one).
  virtual Result<json::object> Describe(const std::string& id, const std::string& run) = 0;
  // {workflows: [ExecutionJson], next_cursor (null at the end)}.
  virtual Result<json::object> List(const persistence::ListFilter& filter) = 0;
  // {total, by_status: {running: N, ...}} of the runs `filter` matches (its status,
  // cursor and limit ignored); every status is present, zeros included.
  virtual Result<json::object> Count(const persistence::ListFilter& filter) = 0;
  virtual Result<proto::History> History(const std::string& id, const std::string& run) = 0;
  // A request id (Idempotency-Key) makes a retried signal or cancel count once.
  virtual Status Signal(const std::string& id, const std::string& name, const json::value& input,
                        const std::string& request_id) = 0;
  // The query handler's answer, replayed from the run's history.
  virtual Result<json::value> Query(const std::string& id, const std::string& run,
                                    const std::string& name, const json::value& args) = 0;
  virtual Status Cancel(const std::string& id, const std::string& reason,
                        const std::string& request_id) = 0;
  virtual Status Terminate(const std::string& id, const std::string& reason) = 0;
  // The new run's id.
  virtual Result<std::string> Reset(const ResetRequest& req) = 0;
  // {queues: [{queue, ready, leased, delayed, oldest_ready_age_ms, pollers}]}: every
  // queue with a task or a poller heard from in the last kPollersRecentMs. pollers:
  // [{identity, kind, last_poll_at_ms, last_poll_age_ms}].
  static constexpr int64_t kPollersRecentMs = 60000;
  virtual Result<json::object> TaskQueues() = 0;
  // One queue's figures as in TaskQueues, and its first `limit` tasks, next first:
  // tasks: [{task_id, kind, workflow_id, run_id, activity_type, attempt, state,
  // visible_at_ms, lease_owner, last_failure}].
  virtual Result<json::object> DescribeTaskQueue(const std::string& queue, int limit) = 0;
};

// A status filter by its API name (running, completed, ...); kInvalidArgument
// (validation_failed, field "status") naming them otherwise.
Result<persistence::ExecutionStatus> ParseStatusFilter(std::string_view name);

// Works on `store` through `history`; both must outlive it. `identity` is recorded in
// the events it causes.
std::unique_ptr<EngineClient> MakeLocalEngineClient(persistence::Store* store,
                                                    HistoryService* history,
                                                    const Registry* registry, std::string identity);
// The same, owning `store`, with a client engine on it that runs nothing: for tools.
std::unique_ptr<EngineClient> OpenLocalEngineClient(std::unique_ptr<persistence::Store> store,
                                                    const Registry* registry, std::string identity);

}  // namespace keel
