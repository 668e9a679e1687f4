#pragma once
// The order state machine (SPEC section 7). The only legal transitions:
//
//   pending_payment -> confirmed | payment_failed | expired | cancelled
//   confirmed       -> fulfilling | cancelled
//   fulfilling      -> shipped | cancelled
//   shipped         -> delivered
//   delivered       -> returned
//   returned        -> refunded
//   cancelled       -> refunded      (a paid order cancelled, then its refund settled)
//
// payment_failed, expired and refunded are terminal: nothing leaves them.

#include <string_view>

namespace keel::commerce {

bool IsOrderStatus(std::string_view s);
bool IsLegalTransition(std::string_view from, std::string_view to);
bool IsTerminal(std::string_view status);

}  // namespace keel::commerce
