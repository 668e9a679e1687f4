#include "http/router.h"

#include <spdlog/spdlog.h>

#include "commerce/validation.h"
#include "common/metrics.h"
#include "common/utf8.h"

namespace keel::http {
namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string ApiRequest::Header(std::string_view name) const {
  auto it = raw.find(boost::beast::string_view(name.data(), name.size()));
  return it == raw.end() ? "" : std::string(it->value());
}

void Router::Add(bhttp::verb method, const std::string& pattern, RouteFn fn) {
  routes_.push_back({pattern, method, SplitPath(pattern), std::move(fn)});
}

std::vector<std::pair<bhttp::verb, std::string>> Router::Routes() const {
  std::vector<std::pair<bhttp::verb, std::string>> out;
  for (const auto& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

namespace {

// The method label: a standard verb, or "other" (a made-up method must not mint a
// series of its own).
std::string MethodLabel(const Request& req) {
  switch (req.method()) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::post:
    case bhttp::verb::put:
    case bhttp::verb::patch:
    case bhttp::verb::delete_:
    case bhttp::verb::options:
      return std::string(bhttp::to_string(req.method()));
    default:
      return "other";
  }
}

void Count(const std::string& route, const std::string& method,
           std::chrono::steady_clock::time_point began, unsigned status) {
  Metrics& m = Metrics::Global();
  m.GetCounter("keel_http_requests_total", "HTTP requests, by route, method and status.",
               {{"route", route}, {"method", method}, {"status", std::to_string(status)}})
      .Inc();
  m.GetHistogram("keel_http_request_seconds", "HTTP request handling time, by route.",
                 {{"route", route}})
      .Observe(SecondsSince(began));
}

// Counts a reply when it is given (a Deferred one when it is finally sent).
Reply Counted(const std::string& route, const Request& req,
              std::chrono::steady_clock::time_point began, Reply reply) {
  std::string method = MethodLabel(req);
  if (auto* res = std::get_if<Response>(&reply)) {
    Count(route, method, began, res->result_int());
    return reply;
  }
  Deferred d = std::move(std::get<Deferred>(reply));
  return Deferred{[start = std::move(d.start), route, method, began](Respond respond) {
    start([respond = std::move(respond), route, method, began](Response res) {
      Count(route, method, began, res.result_int());
      respond(std::move(res));
    });
  }};
}

}  // namespace

Reply Router::Handle(const Request& req, const RequestInfo& info) const {
  const auto began = std::chrono::steady_clock::now();
  std::string_view target(req.target().data(), req.target().size());
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (path.empty() || path[0] != '/') {
    return Counted("unmatched", req, began, ErrorResponse(400, "bad_request", "bad request path"));
  }
  std::vector<std::string> segs = SplitPath(path);
  for (auto& s : segs) s = PercentDecode(s);
  std::map<std::string, std::string> query = q == std::string_view::npos
                                                 ? std::map<std::string, std::string>{}
                                                 : ParseQuery(target.substr(q + 1));
  bool utf8 = true;
  for (const auto& s : segs) utf8 = utf8 && IsValidUtf8(s);
  for (const auto& [k, v] : query) utf8 = utf8 && IsValidUtf8(k) && IsValidUtf8(v);
  if (!utf8) {
    return Counted("unmatched", req, began,
                   ErrorResponse(400, "invalid_utf8", "the request path or query is not UTF-8"));
  }
  std::string allow;
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    bool match = true;
    for (size_t i = 0; i < segs.size() && match; ++i) {
      const std::string& p = r.segments[i];
      if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
        params[p.substr(1, p.size() - 2)] = segs[i];
      } else {
        match = p == segs[i];
      }
    }
    if (!match) continue;
    if (r.method != req.method()) {
      allow += (allow.empty() ? "" : ", ") + std::string(bhttp::to_string(r.method));
      continue;
    }
    ApiRequest api{req, info, std::move(params), std::move(query)};
    if (gate_) {
      if (auto refused = gate_(api, r.pattern)) return Counted(r.pattern, req, began, *refused);
    }
    return Counted(r.pattern, req, began, r.fn(api));
  }
  if (gate_) {
    ApiRequest api{req, info, {}, std::move(query)};
    if (auto refused = gate_(api, "unmatched")) return Counted("unmatched", req, began, *refused);
  }
  if (!allow.empty()) {
    Response res = ErrorResponse(405, "method_not_allowed",
                                 std::string(req.method_string()) + " is not allowed here");
    res.set(bhttp::field::allow, allow);
    return Counted("unmatched", req, began, std::move(res));
  }
  return Counted("unmatched", req, began,
                 ErrorResponse(404, "not_found", "no such endpoint: " + std::string(path)));
}

Response TooManyRequests(Millis retry_after_ms, const std::string& message,
                         const std::string& code) {
  const int64_t seconds = std::max<int64_t>(1, (retry_after_ms + 999) / 1000);
  Response res = ErrorResponse(429, code, message, json::object{{"retry_after_s", seconds}});
  res.set(bhttp::field::retry_after, std::to_string(seconds));
  return res;
}

Response JsonResponse(unsigned status, const json::value& body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = json::serialize(body);
  return res;
}

Response ErrorResponse(unsigned status, const std::string& code, const std::string& message,
                       const json::object& details) {
  json::object err{{"code", code}, {"message", message}};
  if (!details.empty()) err["details"] = details;
  return JsonResponse(status, json::object{{"error", err}});
}

unsigned StatusToHttp(const Status& s) {
  const std::string& r = s.reason();
  if (r == "validation_failed") return 422;
  if (r == "invalid_token" || r == "token_expired" || r == "unauthenticated" ||
      r == "invalid_credentials") {
    return 401;
  }
  if (r == "forbidden") return 403;
  if (r == "rate_limited") return 429;
  if (r == "payload_too_large") return 413;
  switch (s.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kConditionFailed:
      return 409;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kResourceExhausted:
      return r == "disk_full" ? 507 : 429;
    default:
      return 500;
  }
}

Response StatusResponse(const Status& s) {
  unsigned code = StatusToHttp(s);
  json::object details;
  std::string field = commerce::FieldOf(s);
  if (!field.empty()) details["field"] = field;
  // A 5xx's message is logged and replaced by the server (http/server.h).
  return ErrorResponse(code, s.reason().empty() ? "error" : s.reason(), s.message(), details);
}

Result<json::object> ParseBodyObject(const Request& req) {
  auto v = ParseJson(req.body());
  if (!v.ok()) {
    return Status::InvalidArgument("the body is not valid JSON: " + v.status().message(),
                                   "bad_json");
  }
  if (!v->is_object()) return Status::InvalidArgument("the body must be a JSON object", "bad_json");
  return std::move(v->as_object());
}

Result<std::string> StringField(const json::object& o, std::string_view name, bool required) {
  const json::value* v = o.if_contains(name);
  if (!v || v->is_null()) {
    if (required) return commerce::FieldError(name, "is required");
    return std::string();
  }
  if (!v->is_string()) return commerce::FieldError(name, "must be a string");
  return std::string(v->as_string());
}

Result<std::optional<int64_t>> IntField(const json::object& o, std::string_view name,
                                        bool required) {
  const json::value* v = o.if_contains(name);
  if (!v || v->is_null()) {
    if (required) return commerce::FieldError(name, "is required");
    return std::optional<int64_t>();
  }
  if (v->is_int64()) return std::optional<int64_t>(v->as_int64());
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return std::optional<int64_t>(static_cast<int64_t>(v->as_uint64()));
  }
  return commerce::FieldError(name, "must be an integer (money in minor units)");
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && Hex(s[i + 1]) >= 0 && Hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(Hex(s[i + 1]) * 16 + Hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < query.size() && out.size() < 64) {
    size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view kv = query.substr(start, amp - start);
    size_t eq = kv.find('=');
    if (!kv.empty()) {
      out[PercentDecode(kv.substr(0, eq))] =
          eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    }
    start = amp + 1;
  }
  return out;
}

}  // namespace keel::http
