#include "http/request_limits.h"

namespace keel::http {
namespace {

bool Exempt(const std::string& route) {
  return route == "/healthz" || route == "/readyz" || route == "/metrics" ||
         route.rfind("/webhooks/", 0) == 0;
}

}  // namespace

RequestLimits::RequestLimits(RequestLimitOptions o, Clock* clock,
                             std::function<std::string(std::string_view)> account_of)
    : address_reads_(o.address_reads, clock),
      address_writes_(o.address_writes, clock),
      account_reads_(o.account_reads, clock),
      account_writes_(o.account_writes, clock),
      account_of_(std::move(account_of)) {}

std::optional<Response> RequestLimits::Check(const ApiRequest& req, const std::string& route) {
  if (Exempt(route)) return std::nullopt;
  const bool read = req.raw.method() == bhttp::verb::get || req.raw.method() == bhttp::verb::head;
  RateLimiter& by_address = read ? address_reads_ : address_writes_;
  if (Millis wait = by_address.Admit(req.info.client_ip)) {
    return TooManyRequests(wait, "too many requests from this address; slow down");
  }
  RateLimiter& by_account = read ? account_reads_ : account_writes_;
  if (!by_account.limited() || !account_of_) return std::nullopt;
  auto auth = req.raw.find(bhttp::field::authorization);
  if (auth == req.raw.end()) return std::nullopt;
  std::string account = account_of_(std::string_view(auth->value().data(), auth->value().size()));
  if (account.empty()) return std::nullopt;
  if (Millis wait = by_account.Admit(account)) {
    return TooManyRequests(wait, "too many requests for this account; slow down");
  }
  return std::nullopt;
}

}  // namespace keel::http
