// The engine API's client: each call is one request to /v1/... (docs/engine-api.md).

#include "http/engine_client.h"

#include "engine/inspect.h"
#include "engine/replayer.h"

namespace keel::http {
namespace {

class RemoteEngineClient final : public EngineClient {
 public:
  RemoteEngineClient(Url url, std::string token) : url_(std::move(url)), token_(std::move(token)) {}

  Result<json::object> Start(const StartWorkflowRequest& req) override {
    json::object body{{"type", req.workflow_type},
                      {"workflow_id", req.workflow_id},
                      {"input", req.input},
                      {"task_queue", req.task_queue},
                      {"reuse_policy", ReusePolicyName(req.reuse_policy)}};
    return CallObject("POST", "/v1/workflows", json::serialize(body));
  }
  Result<json::object> Describe(const std::string& id, const std::string& run) override {
    return CallObject("GET", Workflow(id) + RunQuery('?', run));
  }
  Result<json::object> List(const persistence::ListFilter& f) override {
    std::string t = "/v1/workflows?size=" + std::to_string(f.limit);
    if (!f.workflow_type.empty()) t += "&type=" + PercentEncode(f.workflow_type);
    if (f.status) t += "&status=" + std::string(persistence::ExecutionStatusName(*f.status));
    if (!f.cursor.empty()) t += "&cursor=" + PercentEncode(f.cursor);
    if (f.start_after) t += "&start_after_ms=" + std::to_string(f.start_after);
    if (f.start_before) t += "&start_before_ms=" + std::to_string(f.start_before);
    if (!f.workflow_id_prefix.empty()) t += "&id_prefix=" + PercentEncode(f.workflow_id_prefix);
    return CallObject("GET", t);
  }
  Result<json::object> Count(const persistence::ListFilter& f) override {
    std::string t = "/v1/workflow-counts?start_after_ms=" + std::to_string(f.start_after);
    if (!f.workflow_type.empty()) t += "&type=" + PercentEncode(f.workflow_type);
    if (f.start_before) t += "&start_before_ms=" + std::to_string(f.start_before);
    if (!f.workflow_id_prefix.empty()) t += "&id_prefix=" + PercentEncode(f.workflow_id_prefix);
    return CallObject("GET", t);
  }
  Result<proto::History> History(const std::string& id, const std::string& run) override {
    KEEL_ASSIGN_OR_RETURN(std::string body,
                          Call("GET", Workflow(id) + "/history" + RunQuery('?', run)));
    return ParseHistoryJson(body);
  }
  Status Signal(const std::string& id, const std::string& name, const json::value& input,
                const std::string& request_id) override {
    return Call("POST", Workflow(id) + "/signals/" + PercentEncode(name), json::serialize(input),
                request_id)
        .status();
  }
  Result<json::value> Query(const std::string& id, const std::string& run, const std::string& name,
                            const json::value& args) override {
    KEEL_ASSIGN_OR_RETURN(
        auto v, CallObject("GET", Workflow(id) + "/queries/" + PercentEncode(name) + "?args=" +
                                      PercentEncode(json::serialize(args)) + RunQuery('&', run)));
    const json::value* result = v.if_contains("result");
    return result ? *result : json::value(nullptr);
  }
  Status Cancel(const std::string& id, const std::string& reason,
                const std::string& request_id) override {
    return Call("POST", Workflow(id) + "/cancel", json::serialize(json::object{{"reason", reason}}),
                request_id)
        .status();
  }
  Status Terminate(const std::string& id, const std::string& reason) override {
    return Call("POST", Workflow(id) + "/terminate",
                json::serialize(json::object{{"reason", reason}}))
        .status();
  }
  Result<std::string> Reset(const ResetRequest& req) override {
    json::object body{{"reason", req.reason}, {"run_id", req.run_id}};
    if (req.event_id > 0) body["event_id"] = req.event_id;
    KEEL_ASSIGN_OR_RETURN(
        auto v, CallObject("POST", Workflow(req.workflow_id) + "/reset", json::serialize(body)));
    const json::value* run = v.if_contains("run_id");
    if (!run || !run->is_string()) {
      return Status::Unavailable("the server's reset answer has no run_id", "bad_response");
    }
    return std::string(run->as_string());
  }
  Result<json::object> TaskQueues() override { return CallObject("GET", "/v1/task-queues"); }
  Result<json::object> DescribeTaskQueue(const std::string& queue, int limit) override {
    return CallObject("GET",
                      "/v1/task-queues/" + PercentEncode(queue) + "?size=" + std::to_string(limit));
  }

 private:
  static std::string Workflow(const std::string& id) {
    return "/v1/workflows/" + PercentEncode(id);
  }
  static std::string RunQuery(char sep, const std::string& run) {
    return run.empty() ? "" : sep + std::string("run_id=") + PercentEncode(run);
  }

  // The response body of a 2xx; an error answer becomes a Status with its code.
  Result<std::string> Call(const std::string& method, const std::string& target,
                           const std::string& body = "", const std::string& request_id = "") {
    CallOptions o;
    o.timeout_ms = 30'000;
    std::map<std::string, std::string> headers = {{"Authorization", "Bearer " + token_},
                                                  {"Content-Type", "application/json"}};
    if (!request_id.empty()) headers["Idempotency-Key"] = request_id;
    KEEL_ASSIGN_OR_RETURN(auto r, HttpCall(url_, method, url_.path + target, body, headers, o));
    if (r.status >= 200 && r.status < 300) return r.body;
    std::string code = "http_" + std::to_string(r.status), message = r.body.substr(0, 500);
    auto v = ParseJson(r.body);
    if (v.ok() && v->is_object() && v->as_object().contains("error") &&
        v->at("error").is_object()) {
      const auto& e = v->at("error").as_object();
      if (e.contains("code") && e.at("code").is_string()) code = e.at("code").as_string().c_str();
      if (e.contains("message") && e.at("message").is_string()) {
        message = e.at("message").as_string().c_str();
      }
    }
    if (r.status == 404) return Status::NotFound(message, code);
    if (r.status == 400 || r.status == 422) return Status::InvalidArgument(message, code);
    if (r.status >= 500) return Status::Unavailable(message, code);
    return Status::FailedPrecondition(message, code);
  }
  Result<json::object> CallObject(const std::string& method, const std::string& target,
                                  const std::string& body = "") {
    KEEL_ASSIGN_OR_RETURN(std::string text, Call(method, target, body));
    KEEL_ASSIGN_OR_RETURN(json::value v, ParseJson(text));
    if (!v.is_object())
      return Status::Unavailable("the server's answer is not an object", "bad_response");
    return std::move(v.as_object());
  }

  Url url_;
  std::string token_;
};

}  // namespace

std::string PercentEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::unique_ptr<EngineClient> MakeRemoteEngineClient(Url base, std::string admin_token) {
  return std::make_unique<RemoteEngineClient>(std::move(base), std::move(admin_token));
}

}  // namespace keel::http
