#pragma once
// An HTTP/1.1 server on Boost.Beast (Beast's awaitable example, grown up): one
// coroutine per connection on its own strand, keep-alive, and a deadline on every
// wait: idle between requests, the request header, the body, the response write.
// Connections are capped in total and per client address. Request handling is a
// plain function from request to reply; it may block (on a database), so the server
// runs several I/O threads. A reply that is not ready (a long-poll, work queued on
// another pool) is Deferred: the connection is parked and no thread is held.
//
// Every response carries X-Request-Id (the client's, if it sent a sane one, else a
// new one) and is written to the access log. A 5xx body never carries detail: the
// server logs the handler's body under the request id and sends a generic one.
// A request whose target, headers or body hold invalid UTF-8 is answered 400.

#include <atomic>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "http/client_address.h"

namespace keel::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

struct RequestInfo {
  std::string client_ip;   // the peer, or what a trusted proxy said it forwarded for
  std::string request_id;  // also sent back as X-Request-Id
};

// Sends a parked request's response. Call it once, from any thread.
using Respond = std::function<void(Response)>;
// A reply that is not ready yet: the server parks the connection (holding no thread)
// and calls `start` once, on the connection's strand, with the function that sends
// the response when it is ready.
struct Deferred {
  std::function<void(Respond)> start;
};
using Reply = std::variant<Response, Deferred>;

using Handler = std::function<Reply(const Request&, const RequestInfo&)>;

// A handler's response carrying this header is not sent: the server closes the
// connection instead, as a network failure after the work was done would.
inline constexpr const char* kDropConnectionHeader = "X-Keel-Drop-Connection";

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see HttpServer::port)
  int threads = 4;
  size_t max_header_bytes = 16 * 1024;  // more: 431
  size_t max_body_bytes = 1024 * 1024;  // more: 413
  Millis idle_timeout_ms = 60'000;      // a keep-alive connection waiting for a request
  Millis header_timeout_ms = 15'000;    // from a request's first byte to its last header
  Millis body_timeout_ms = 30'000;      // to read the body once the header is in
  Millis write_timeout_ms = 30'000;     // to send one response
  Millis max_park_ms = 120'000;         // a Deferred reply not given by then: 503
  int max_connections = 4096;           // more are closed at once
  int max_connections_per_address = 256;
  TrustedProxies trusted_proxies;  // peers whose X-Forwarded-For is believed
  bool access_log = true;          // one line per request on the "access" logger
  std::string name = "api";        // the `server` label of this server's metrics
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
  // Open connections now (for tests and metrics).
  int connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

// Parses "HOST:PORT" (port 0 allowed).
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text);

// Raises the soft limit of open files to the hard limit (a server with many
// connections needs it); returns the limit now in force.
long RaiseOpenFileLimit();

}  // namespace keel::http
