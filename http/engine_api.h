#pragma once
// The engine's HTTP API (SPEC section 4, "Engine"): start, list, describe, history,
// signal, query, cancel, terminate and reset workflows, and the task queues. Every
// /v1 route needs `Authorization: Bearer <admin token>` (401 without, 403 wrong);
// with no admin token configured they answer 403 admin_api_disabled. What they return
// is what `keel workflow ... --output json` prints: both go through an engine client
// (engine/client.h).
// GET /metrics (Prometheus text: the process's counters and histograms, plus the
// store's queue backlogs and pending timers) needs no token: scrapers and probes
// reach it, and it names no workflow.

#include <memory>
#include <string>

#include "engine/client.h"
#include "engine/history_service.h"
#include "engine/registry.h"
#include "http/router.h"
#include "http/waiters.h"

namespace keel::http {

struct EngineApiOptions {
  HistoryService* history = nullptr;
  persistence::Store* store = nullptr;
  const Registry* registry = nullptr;  // workflow types to start, and to replay for queries
  std::string admin_token;
  int max_wait_s = 60;         // POST /v1/workflows?wait=
  Waiters* waiters = nullptr;  // where ?wait= parks; null: ?wait= is refused
};

class EngineApi {
 public:
  explicit EngineApi(EngineApiOptions options);
  void AddRoutes(Router& router);

 private:
  Reply Start(const ApiRequest& req);
  Response List(const ApiRequest& req);
  Response Count(const ApiRequest& req);
  Response Describe(const ApiRequest& req);
  Response History(const ApiRequest& req);
  Response Signal(const ApiRequest& req);
  Response Query(const ApiRequest& req);
  Response Cancel(const ApiRequest& req);
  Response Terminate(const ApiRequest& req);
  Response Reset(const ApiRequest& req);
  Response TaskQueues(const ApiRequest& req);
  Response TaskQueue(const ApiRequest& req);
  Response MetricsText(const ApiRequest& req);

  EngineApiOptions o_;
  std::unique_ptr<EngineClient> client_;  // local: what every route does
};

}  // namespace keel::http
