#pragma once
// An HTTP/1.1 server on Boost.Beast (Beast's awaitable example, grown up): one
// coroutine per connection on its own strand, keep-alive, a deadline on every read,
// limits on header and body size, and a graceful stop. Request handling is a plain
// function from request to response; it may block (on a database), so the server
// runs several I/O threads.

#include <atomic>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace keel::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

struct RequestInfo {
  std::string client_ip;
};

using Handler = std::function<Response(const Request&, const RequestInfo&)>;

// A handler's response carrying this header is not sent: the server closes the
// connection instead, as a network failure after the work was done would.
inline constexpr const char* kDropConnectionHeader = "X-Keel-Drop-Connection";

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see HttpServer::port)
  int threads = 4;
  size_t max_header_bytes = 16 * 1024;  // more: 431
  size_t max_body_bytes = 1024 * 1024;  // more: 413
  Millis read_timeout_ms = 15'000;      // to read one whole request once it starts
  Millis idle_timeout_ms = 60'000;      // a keep-alive connection waiting for a request
  int max_connections = 4096;           // more are closed at once
};

class HttpServer {
 public:
  HttpServer(ServerOptions options, Handler handler);
  ~HttpServer();
  // Binds and starts the I/O threads; address_in_use and the like name the address.
  Status Start();
  uint16_t port() const { return port_; }
  // Stops accepting, closes idle connections, lets requests in progress finish (up
  // to `drain_ms`), then stops the threads. Safe to call twice.
  void Stop(Millis drain_ms = 5000);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

// Parses "HOST:PORT" (port 0 allowed).
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text);

}  // namespace keel::http
