#include "http/client.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <cctype>

namespace keel::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

Result<Url> ParseHttpUrl(const std::string& text) {
  const Status bad = Status::InvalidArgument("'" + text + "' is not an http://HOST:PORT[/path] URL",
                                             "invalid_url");
  const std::string scheme = "http://";
  if (text.rfind(scheme, 0) != 0) return bad;
  std::string rest = text.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  Url url;
  if (slash != std::string::npos) url.path = rest.substr(slash);
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  size_t colon = hostport.rfind(':');
  url.host = hostport.substr(0, colon);
  if (url.host.empty()) return bad;
  if (colon != std::string::npos) {
    std::string port = hostport.substr(colon + 1);
    if (port.empty() || port.size() > 5) return bad;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return bad;
    }
    int p = std::stoi(port);
    if (p < 1 || p > 65535) return bad;
    url.port = static_cast<uint16_t>(p);
  }
  return url;
}

Result<ClientResponse> HttpCall(const Url& base, const std::string& method,
                                const std::string& target, const std::string& body,
                                const std::map<std::string, std::string>& headers,
                                CallOptions options) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  std::string path = base.path + target;
  if (path.empty()) path = "/";
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), path, 11};
  req.set(bhttp::field::host, base.host);
  req.set(bhttp::field::connection, "close");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() && req.find(bhttp::field::content_type) == req.end()) {
    req.set(bhttp::field::content_type, "application/json");
  }
  req.body() = body;
  req.prepare_payload();

  beast::error_code result;
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(16 * 1024 * 1024);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);

  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints = resolver.resolve(base.host, std::to_string(base.port), ec);
  if (ec) {
    return Status::Unavailable("cannot resolve " + base.host + ": " + ec.message(),
                               "network_error");
  }
  stream.expires_after(std::chrono::milliseconds(options.connect_timeout_ms));
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if (e) {
      result = e;
      return;
    }
    stream.expires_at(deadline);
    bhttp::async_write(stream, req, [&](beast::error_code e2, size_t) {
      if (e2) {
        result = e2;
        return;
      }
      bhttp::async_read(stream, buffer, parser, [&](beast::error_code e3, size_t) { result = e3; });
    });
  });
  ioc.run();
  const std::string where = method + " " + base.host + ":" + std::to_string(base.port) + target;
  if (result == beast::error::timeout) {
    return Status::Unavailable(where + ": timed out", "timeout");
  }
  if (result) return Status::Unavailable(where + ": " + result.message(), "network_error");
  auto res = parser.release();
  ClientResponse out;
  out.status = static_cast<int>(res.result_int());
  out.body = std::move(res.body());
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace keel::http
