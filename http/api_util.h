#pragma once
// Helpers of the shop's HTTP handlers (storefront_api.cc, checkout_api.cc).

#include "commerce/orders.h"
#include "http/router.h"

namespace keel::http {

// Early return of an error response from a handler.
#define HTTP_CHECK(expr)                       \
  do {                                         \
    ::keel::Status _st = (expr);               \
    if (!_st.ok()) return StatusResponse(_st); \
  } while (0)
#define HTTP_ASSIGN(lhs, expr) HTTP_ASSIGN_IMPL(KEEL_CONCAT(_hr_, __LINE__), lhs, expr)
#define HTTP_ASSIGN_IMPL(tmp, lhs, expr)              \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return StatusResponse(tmp.status()); \
  lhs = std::move(tmp).value()

// An integer query parameter (`fallback` when absent); validation_failed naming it.
Result<int64_t> QueryInt(const ApiRequest& req, const std::string& name, int64_t fallback);
// The engine API's bearer check: unauthenticated (401) without a bearer token,
// forbidden (403) for a wrong one or when `token` is "" (the engine API is off).
Status CheckAdminToken(const ApiRequest& req, const std::string& token);
// The JSON form of an order; `detail` adds its lines, status history and address.
json::object OrderJson(const commerce::Order& o, bool detail);

}  // namespace keel::http
