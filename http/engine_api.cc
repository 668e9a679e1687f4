#include "http/engine_api.h"

#include "commerce/validation.h"
#include "common/metrics.h"
#include "engine/inspect.h"
#include "engine/replayer.h"
#include "http/api_util.h"

namespace keel::http {

namespace {

constexpr const char* kIdentity = "keel-api";

// The body as a JSON object; an empty body is {}.
Result<json::object> OptionalBody(const ApiRequest& req) {
  if (req.raw.body().empty()) return json::object{};
  return ParseBodyObject(req.raw);
}

Response Ack(const std::string& workflow_id, const std::string& what) {
  return JsonResponse(202, json::object{{"workflow_id", workflow_id}, {"accepted", what}});
}

}  // namespace

EngineApi::EngineApi(EngineApiOptions options)
    : o_(std::move(options)),
      client_(MakeLocalEngineClient(o_.store, o_.history, o_.registry, kIdentity)) {
  if (o_.waiters && o_.history) {
    Waiters* w = o_.waiters;
    o_.history->AddCloseHook(
        [w](const persistence::ExecutionRow& row) { w->Notify(RunWaitKey(row.workflow_id)); });
  }
}

void EngineApi::AddRoutes(Router& router) {
  using bhttp::verb;
  auto admin = [this](Response (EngineApi::*fn)(const ApiRequest&)) {
    return [this, fn](const ApiRequest& req) {
      Status s = CheckAdminToken(req, o_.admin_token);
      if (!s.ok()) return StatusResponse(s);
      return (this->*fn)(req);
    };
  };
  router.Add(verb::post, "/v1/workflows", [this](const ApiRequest& req) -> Reply {
    Status s = CheckAdminToken(req, o_.admin_token);
    if (!s.ok()) return StatusResponse(s);
    return Start(req);
  });
  router.Add(verb::get, "/v1/workflows", admin(&EngineApi::List));
  router.Add(verb::get, "/v1/workflow-counts", admin(&EngineApi::Count));
  router.Add(verb::get, "/v1/workflows/{id}", admin(&EngineApi::Describe));
  router.Add(verb::get, "/v1/workflows/{id}/history", admin(&EngineApi::History));
  router.Add(verb::post, "/v1/workflows/{id}/signals/{name}", admin(&EngineApi::Signal));
  router.Add(verb::get, "/v1/workflows/{id}/queries/{name}", admin(&EngineApi::Query));
  router.Add(verb::post, "/v1/workflows/{id}/cancel", admin(&EngineApi::Cancel));
  router.Add(verb::post, "/v1/workflows/{id}/terminate", admin(&EngineApi::Terminate));
  router.Add(verb::post, "/v1/workflows/{id}/reset", admin(&EngineApi::Reset));
  router.Add(verb::get, "/v1/task-queues", admin(&EngineApi::TaskQueues));
  router.Add(verb::get, "/v1/task-queues/{queue}", admin(&EngineApi::TaskQueue));
  router.Add(verb::get, "/metrics", [this](const ApiRequest& req) { return MetricsText(req); });
}

Response EngineApi::MetricsText(const ApiRequest&) {
  std::vector<GaugeSample> g;
  Millis now = o_.store->clock()->Now();
  auto stats = o_.store->QueueStatistics();
  if (stats.ok()) {
    for (const auto& q : *stats) {
      double age = q.ready && q.oldest_ready_at > 0 ? (now - q.oldest_ready_at) / 1000.0 : 0;
      g.push_back({"keel_task_queue_tasks",
                   "Tasks per queue and state (ready, leased, delayed).",
                   {{"queue", q.queue}, {"state", "ready"}},
                   static_cast<double>(q.ready)});
      g.push_back({"keel_task_queue_tasks",
                   "",
                   {{"queue", q.queue}, {"state", "leased"}},
                   static_cast<double>(q.leased)});
      g.push_back({"keel_task_queue_tasks",
                   "",
                   {{"queue", q.queue}, {"state", "delayed"}},
                   static_cast<double>(q.delayed)});
      g.push_back({"keel_task_queue_oldest_ready_age_seconds",
                   "How long the oldest ready task of the queue has waited.",
                   {{"queue", q.queue}},
                   std::max(0.0, age)});
    }
  }
  auto timers = o_.store->CountTimers();
  if (timers.ok()) {
    g.push_back(
        {"keel_timers_pending", "Durable timers not yet fired.", {}, static_cast<double>(*timers)});
  }
  g.push_back({"keel_store_up",
               "1 when the store answered this scrape's reads.",
               {},
               stats.ok() && timers.ok() ? 1.0 : 0.0});
  Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
  res.body() = Metrics::Global().Render() + RenderGauges(g);
  return res;
}

Reply EngineApi::Start(const ApiRequest& req) {
  HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
  StartWorkflowRequest start;
  HTTP_ASSIGN(start.workflow_type, StringField(body, "type", true));
  HTTP_ASSIGN(start.workflow_id, StringField(body, "workflow_id", true));
  HTTP_ASSIGN(start.task_queue, StringField(body, "task_queue", false));
  HTTP_ASSIGN(std::string reuse, StringField(body, "reuse_policy", false));
  auto policy = ParseReusePolicy(reuse);
  if (!policy.ok())
    return StatusResponse(commerce::FieldError("reuse_policy", policy.status().message()));
  start.reuse_policy = *policy;
  HTTP_ASSIGN(int64_t wait, QueryInt(req, "wait", 0));
  HTTP_CHECK(commerce::CheckRange("wait", wait, 0, o_.waiters ? o_.max_wait_s : 0));
  const json::value* input = body.if_contains("input");
  start.input = input ? *input : json::value(nullptr);
  HTTP_ASSIGN(json::object out, client_->Start(start));
  const bool started = out.at("started").as_bool();
  if (wait == 0) return JsonResponse(started ? 201 : 200, out);
  // The run as it is once it closes, or when the wait ends.
  auto check = [store = o_.store, run_id = std::string(out.at("run_id").as_string()),
                started](bool final) -> std::optional<Response> {
    auto row = store->ReadExecution(run_id);
    if (!row.ok()) {
      if (!final) return std::nullopt;
      return StatusResponse(row.status());
    }
    if (!row.value()) {
      if (!final) return std::nullopt;
      return StatusResponse(Status::NotFound("run " + run_id + " is gone", "workflow_not_found"));
    }
    const persistence::ExecutionRow& e = *row.value();
    if (e.status == persistence::ExecutionStatus::kRunning && !final) return std::nullopt;
    json::object j = ExecutionJson(e);
    j["started"] = started;
    return JsonResponse(200, j);
  };
  return o_.waiters->Park({RunWaitKey(start.workflow_id)}, "admin:" + req.info.client_ip,
                          wait * 1000, std::move(check));
}

namespace {
// type, id_prefix, start_after_ms and start_before_ms: what lists and counts share.
Result<persistence::ListFilter> FilterOf(const ApiRequest& req) {
  persistence::ListFilter f;
  f.workflow_type = req.Query("type");
  f.workflow_id_prefix = req.Query("id_prefix");
  KEEL_RETURN_IF_ERROR(commerce::CheckText("id_prefix", f.workflow_id_prefix, 0, 200));
  KEEL_ASSIGN_OR_RETURN(f.start_after, QueryInt(req, "start_after_ms", 0));
  KEEL_ASSIGN_OR_RETURN(f.start_before, QueryInt(req, "start_before_ms", 0));
  return f;
}
}  // namespace

Response EngineApi::List(const ApiRequest& req) {
  HTTP_ASSIGN(persistence::ListFilter f, FilterOf(req));
  f.cursor = req.Query("cursor");
  HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 50));
  HTTP_CHECK(commerce::CheckRange("size", size, 1, 1000));
  f.limit = static_cast<int>(size);
  if (std::string st = req.Query("status"); !st.empty()) {
    HTTP_ASSIGN(f.status, ParseStatusFilter(st));
  }
  HTTP_ASSIGN(json::object page, client_->List(f));
  return JsonResponse(200, page);
}

Response EngineApi::Count(const ApiRequest& req) {
  HTTP_ASSIGN(persistence::ListFilter f, FilterOf(req));
  HTTP_ASSIGN(json::object counts, client_->Count(f));
  return JsonResponse(200, counts);
}

Response EngineApi::Describe(const ApiRequest& req) {
  HTTP_ASSIGN(json::object d, client_->Describe(req.path.at("id"), req.Query("run_id")));
  return JsonResponse(200, d);
}

Response EngineApi::History(const ApiRequest& req) {
  HTTP_ASSIGN(proto::History h, client_->History(req.path.at("id"), req.Query("run_id")));
  Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = HistoryToJson(h);  // the format `keel workflow replay --file` reads
  return res;
}

Response EngineApi::Signal(const ApiRequest& req) {
  json::value input = nullptr;
  if (!req.raw.body().empty()) {
    HTTP_ASSIGN(input, ParseJson(req.raw.body()));
  }
  // A retried request with the same key is applied once.
  HTTP_CHECK(client_->Signal(req.path.at("id"), req.path.at("name"), input,
                             req.Header("Idempotency-Key")));
  return Ack(req.path.at("id"), "signal");
}

Response EngineApi::Query(const ApiRequest& req) {
  json::value args = nullptr;
  if (std::string a = req.Query("args"); !a.empty()) {
    auto parsed = ParseJson(a);
    if (!parsed.ok()) return StatusResponse(commerce::FieldError("args", "is not valid JSON"));
    args = std::move(parsed).value();
  }
  HTTP_ASSIGN(json::value v,
              client_->Query(req.path.at("id"), req.Query("run_id"), req.path.at("name"), args));
  return JsonResponse(200, json::object{{"result", v}});
}

Response EngineApi::Cancel(const ApiRequest& req) {
  HTTP_ASSIGN(json::object body, OptionalBody(req));
  HTTP_ASSIGN(std::string reason, StringField(body, "reason", false));
  HTTP_CHECK(client_->Cancel(req.path.at("id"), reason, req.Header("Idempotency-Key")));
  return Ack(req.path.at("id"), "cancel");
}

Response EngineApi::Terminate(const ApiRequest& req) {
  HTTP_ASSIGN(json::object body, OptionalBody(req));
  HTTP_ASSIGN(std::string reason, StringField(body, "reason", false));
  HTTP_CHECK(client_->Terminate(req.path.at("id"), reason));
  return JsonResponse(200,
                      json::object{{"workflow_id", req.path.at("id")}, {"status", "terminated"}});
}

Response EngineApi::Reset(const ApiRequest& req) {
  HTTP_ASSIGN(json::object body, OptionalBody(req));
  HTTP_ASSIGN(std::string reason, StringField(body, "reason", false));
  HTTP_ASSIGN(std::string run, StringField(body, "run_id", false));
  HTTP_ASSIGN(auto event, IntField(body, "event_id", false));
  ResetRequest r{req.path.at("id"), run, event.value_or(0), reason, kIdentity};
  HTTP_ASSIGN(std::string new_run, client_->Reset(r));
  return JsonResponse(200, json::object{{"workflow_id", r.workflow_id}, {"run_id", new_run}});
}

Response EngineApi::TaskQueues(const ApiRequest&) {
  HTTP_ASSIGN(json::object queues, client_->TaskQueues());
  return JsonResponse(200, queues);
}

Response EngineApi::TaskQueue(const ApiRequest& req) {
  HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
  HTTP_CHECK(commerce::CheckRange("size", size, 1, 1000));
  HTTP_ASSIGN(json::object queue,
              client_->DescribeTaskQueue(req.path.at("queue"), static_cast<int>(size)));
  return JsonResponse(200, queue);
}

}  // namespace keel::http
