#pragma once
// A blocking HTTP/1.1 client for calls between Keel's processes (activities to the
// gateway and the carrier, simulators to webhook endpoints): one request per
// connection, with a deadline on connect and on the whole exchange. It never
// retries: a caller that retries a POST must send an Idempotency-Key.

#include <map>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace keel::http {

struct Url {
  std::string host;
  uint16_t port = 80;
  std::string path;  // "" or "/prefix", without a trailing slash
};
// "http://HOST:PORT[/path]"; https is not supported (invalid_argument naming the URL).
Result<Url> ParseHttpUrl(const std::string& text);

struct ClientResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names lower-case
};

struct CallOptions {
  Millis connect_timeout_ms = 2'000;
  Millis timeout_ms = 10'000;  // connect, write and read together
};

// Errors: Unavailable with reason "network_error" (refused, reset, closed before a
// reply: the request may or may not have been acted on) or "timeout".
Result<ClientResponse> HttpCall(const Url& base, const std::string& method,
                                const std::string& target, const std::string& body = "",
                                const std::map<std::string, std::string>& headers = {},
                                CallOptions options = {});

}  // namespace keel::http
