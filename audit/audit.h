#pragma once
// The invariants of SPEC section 7, checked against the shop's databases and the
// payment gateway's ledger (read over its API, as an auditor would). `keel audit`
// and every end-to-end and chaos test run this.

#include <string>
#include <vector>

#include "commerce/shop.h"

namespace keel::audit {

struct Violation {
  int invariant = 0;    // 1..10, as numbered in SPEC section 7
  std::string subject;  // the SKU, order or payment it is about
  std::string message;
};

struct AuditOptions {
  std::string payments_url;  // the gateway whose ledger is matched to the orders
  // Liveness (invariant 5) and leaked holds (6) hold only once the system is quiet;
  // without `quiescent` they are not checked.
  bool quiescent = true;
  Millis payment_window_ms = 15 * 60 * 1000;
  Millis liveness_bound_ms = 60'000;
};

// Every violation found; an error only when a database or the gateway cannot be read.
Result<std::vector<Violation>> Run(commerce::Shop& shop, const AuditOptions& options);

std::string ToString(const Violation& v);

}  // namespace keel::audit
