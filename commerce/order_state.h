#pragma once
// The order state machine (SPEC section 7). An order is created pending_payment, or
// rejected (a checkout refused before any hold: its snapshot was invalid). The only
// legal transitions:
//
//   pending_payment -> rejected | confirmed | payment_failed | expired | cancelled
//   confirmed       -> fulfilling | cancelled
//   fulfilling      -> shipped | cancelled
//   shipped         -> delivered
//   delivered       -> returned
//   returned        -> refunded
//   cancelled       -> refunded      (a paid order cancelled, then its refund settled)
//
// rejected, payment_failed, expired and refunded are terminal: nothing leaves them.

#include <string_view>

namespace keel::commerce {

bool IsOrderStatus(std::string_view s);
// A status an order may be created in.
bool IsInitialStatus(std::string_view s);
bool IsLegalTransition(std::string_view from, std::string_view to);
bool IsTerminal(std::string_view status);

}  // namespace keel::commerce
