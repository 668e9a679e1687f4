#include "tests/testing/http_client.h"

namespace keel::testutil {

namespace beast = boost::beast;
namespace bhttp = beast::http;

json::value HttpResult::Json() const {
  auto v = ParseJson(body);
  return v.ok() ? v.value() : json::value(nullptr);
}

std::string HttpResult::ErrorCode() const {
  json::value v = Json();
  if (!v.is_object() || !v.as_object().contains("error")) return "";
  return std::string(v.at("error").at("code").as_string());
}

void HttpClient::Connect() {
  stream_ = std::make_unique<beast::tcp_stream>(ioc_);
  stream_->connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_));
}

HttpResult HttpClient::Call(const std::string& method, const std::string& target,
                            const std::string& body,
                            const std::map<std::string, std::string>& headers) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!stream_) Connect();
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    beast::error_code ec;
    bhttp::write(*stream_, req, ec);
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    if (!ec) bhttp::read(*stream_, buf, parser, ec);
    if (ec) {
      stream_.reset();  // the server closed a kept-alive connection: once more
      if (attempt == 0) continue;
      return HttpResult{-1, ec.message(), {}};
    }
    auto res = parser.release();
    HttpResult out{static_cast<int>(res.result_int()), res.body(), {}};
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    if (!res.keep_alive()) stream_.reset();
    return out;
  }
  return HttpResult{-1, "unreachable", {}};
}

HttpResult HttpClient::Call(const std::string& method, const std::string& target,
                            const std::string& body, const std::string& token,
                            std::map<std::string, std::string> headers) {
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  return Call(method, target, body, headers);
}

}  // namespace keel::testutil
