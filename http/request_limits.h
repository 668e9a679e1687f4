#pragma once
// Rate limits on every request (SPEC section 10), applied as the router's gate: per
// client address and per account, for reads (GET, HEAD) and writes (the rest)
// apart. The account is the user a valid bearer token names; the address is the
// peer, or what a trusted proxy forwarded for (http/client_address.h). A limited
// request gets 429 rate_limited with Retry-After.
//
// Not limited: health and metrics probes, and the payment and carrier webhooks
// (signed, and refusing them only delays money and parcels).

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "http/rate_limiter.h"
#include "http/router.h"

namespace keel::http {

struct RequestLimitOptions {
  RateLimit address_reads{1000, 2000}, address_writes{200, 400};
  RateLimit account_reads{100, 200}, account_writes{20, 40};
};

class RequestLimits {
 public:
  // `account_of` maps an Authorization header value to an account id, or "" when it
  // names none (the handler then answers 401 itself).
  RequestLimits(RequestLimitOptions options, Clock* clock,
                std::function<std::string(std::string_view authorization)> account_of);
  std::optional<Response> Check(const ApiRequest& req, const std::string& route);
  Gate AsGate() {
    return [this](const ApiRequest& req, const std::string& route) { return Check(req, route); };
  }

 private:
  RateLimiter address_reads_, address_writes_, account_reads_, account_writes_;
  std::function<std::string(std::string_view)> account_of_;
};

}  // namespace keel::http
