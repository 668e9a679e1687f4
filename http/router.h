#pragma once
// Routing and the JSON conventions of the API (SPEC section 4): errors are
// {"error":{"code","message","details"}}, a Status maps to its HTTP status in one
// place (StatusToHttp), query strings are percent-decoded.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "http/server.h"

namespace keel::http {

struct ApiRequest {
  const Request& raw;
  const RequestInfo& info;
  std::map<std::string, std::string> path;   // {name} segments of the route
  std::map<std::string, std::string> query;  // decoded query parameters

  std::string Query(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? "" : it->second;
  }
  std::string Header(std::string_view name) const;
};

// A route's handler. It may return a Deferred reply (http/server.h) to answer later
// without holding a thread; its closure must copy what it needs from the request.
using RouteFn = std::function<Reply(const ApiRequest&)>;
// Runs before every request's handler, with the matched route's pattern (or
// "unmatched"); a response it returns is sent instead (a 429, say).
using Gate = std::function<std::optional<Response>(const ApiRequest&, const std::string& route)>;

class Router {
 public:
  // `pattern` like "/items/{id}/recommendations".
  void Add(bhttp::verb method, const std::string& pattern, RouteFn fn);
  void SetGate(Gate gate) { gate_ = std::move(gate); }
  // 404 for an unknown path, 405 (with Allow) for a known path and another method,
  // 400 invalid_utf8 when a decoded path segment or query parameter is not UTF-8.
  // Counts every request in keel_http_requests_total{route,method,status} and times it
  // in keel_http_request_seconds{route}; the labels are bounded: the route pattern or
  // "unmatched", a standard method or "other".
  Reply Handle(const Request& req, const RequestInfo& info) const;
  // Every route, as "METHOD /pattern" (for the API's contract test).
  std::vector<std::pair<bhttp::verb, std::string>> Routes() const;

 private:
  struct Route {
    std::string pattern;  // the metrics' route label
    bhttp::verb method;
    std::vector<std::string> segments;
    RouteFn fn;
  };
  std::vector<Route> routes_;
  Gate gate_;
};

// 429 rate_limited with Retry-After (whole seconds, at least 1).
Response TooManyRequests(Millis retry_after_ms, const std::string& message,
                         const std::string& code = "rate_limited");

Response JsonResponse(unsigned status, const json::value& body);
Response ErrorResponse(unsigned status, const std::string& code, const std::string& message,
                       const json::object& details = {});
// The HTTP status for a Status's code and reason (422 for validation_failed, 401 for
// token errors, 409 for conflicts of state, 503 for transient failures, ...).
unsigned StatusToHttp(const Status& s);
// The error response for a Status (validation errors name their field in details).
Response StatusResponse(const Status& s);

// The body as a JSON object, or 400 bad_json.
Result<json::object> ParseBodyObject(const Request& req);
// Typed fields: validation_failed naming the field when the type is wrong.
Result<std::string> StringField(const json::object& o, std::string_view name, bool required);
Result<std::optional<int64_t>> IntField(const json::object& o, std::string_view name,
                                        bool required);

std::map<std::string, std::string> ParseQuery(std::string_view query);
std::string PercentDecode(std::string_view s);

}  // namespace keel::http
