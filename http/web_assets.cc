#include "http/web_assets.h"

#include <map>

#include "http/idempotency.h"

namespace keel::http {

const char* const kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

namespace {

std::string ContentType(std::string_view path) {
  static const std::map<std::string, std::string, std::less<>> by_extension{
      {"css", "text/css; charset=utf-8"},
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"png", "image/png"},
      {"svg", "image/svg+xml"},
      {"txt", "text/plain; charset=utf-8"}};
  auto dot = path.rfind('.');
  auto it =
      dot == std::string_view::npos ? by_extension.end() : by_extension.find(path.substr(dot + 1));
  return it == by_extension.end() ? "application/octet-stream" : it->second;
}

const std::map<std::string, WebAsset, std::less<>>& Assets() {
  static const auto assets = [] {
    std::map<std::string, WebAsset, std::less<>> m;
    for (const auto& f : internal::EmbeddedFiles()) {
      m[std::string(f.path)] = WebAsset{std::string(f.path), ContentType(f.path),
                                        "\"" + Sha256Hex(f.bytes).substr(0, 20) + "\"", f.bytes};
    }
    return m;
  }();
  return assets;
}

Response Serve(const ApiRequest& req, const WebAsset& a) {
  const bool fresh = req.Header("If-None-Match") == a.etag;
  Response res{fresh ? bhttp::status::not_modified : bhttp::status::ok, 11};
  res.set(bhttp::field::etag, a.etag);
  res.set(bhttp::field::cache_control, "no-cache");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Content-Security-Policy", kContentSecurityPolicy);
  res.set("Referrer-Policy", "no-referrer");
  if (!fresh) {
    res.set(bhttp::field::content_type, a.content_type);
    res.body() = std::string(a.bytes);
  }
  return res;
}

RouteFn File(std::string path) {
  return [path = std::move(path)](const ApiRequest& req) -> Reply {
    const WebAsset* a = FindWebAsset(path);
    if (!a) return ErrorResponse(404, "not_found", "no page " + path + " in this build");
    return Serve(req, *a);
  };
}

}  // namespace

const WebAsset* FindWebAsset(std::string_view path) {
  auto it = Assets().find(path);
  return it == Assets().end() ? nullptr : &it->second;
}

void AddWebRoutes(Router& router) {
  router.Add(bhttp::verb::get, "/", File("shop.html"));
  router.Add(bhttp::verb::get, "/console", File("console.html"));
  router.Add(bhttp::verb::get, "/openapi.json", File("openapi.json"));
  router.Add(bhttp::verb::get, "/assets/{file}", [](const ApiRequest& req) -> Reply {
    const std::string& name = req.path.at("file");
    const WebAsset* a = FindWebAsset("assets/" + name);
    if (!a) return ErrorResponse(404, "not_found", "no asset '" + name + "'");
    return Serve(req, *a);
  });
}

}  // namespace keel::http
