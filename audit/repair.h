#pragma once
// `keel audit --repair`: the safe subset of fixes, each idempotent, each said.
// - Active holds past their expiry are marked expired (they already count as free).
// - An order stuck in pending_payment past its window whose checkout saga has ended
//   (an operator terminated it, say) gets an order_expiry workflow: void the payment,
//   release the holds, expire the order. It runs on the workers, durably.
// Orders whose saga still runs are left to it (its window timer expires them once a
// worker runs); they are reported.

#include <string>
#include <vector>

#include "audit/audit.h"

namespace keel::audit {

// What was done (or found and left), one line each.
Result<std::vector<std::string>> Repair(commerce::Shop& shop, persistence::Store& engine,
                                        const AuditOptions& options);

}  // namespace keel::audit
