#pragma once
// Webhook signatures, as Stripe signs them: the header
//   Keel-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
// The receiver recomputes the MAC in constant time and refuses a timestamp more than
// `tolerance` away from its clock (a replayed old delivery).

#include <string>
#include <string_view>

#include "common/status.h"

namespace keel::http {

inline constexpr const char* kSignatureHeader = "Keel-Signature";

std::string SignWebhook(std::string_view secret, int64_t unix_seconds, std::string_view body);
// invalid_signature when the header is missing, malformed, stale or does not match.
Status VerifyWebhook(std::string_view secret, std::string_view header, std::string_view body,
                     int64_t now_unix_seconds, int64_t tolerance_seconds = 300);

}  // namespace keel::http
