#pragma once
// The invariants of SPEC section 7, checked against the shop's databases, the engine
// store (checkout snapshots and runs) and the payment gateway's ledger (over its API,
// or from its ledger database when it is down). `keel audit`, `keel chaos` and every
// end-to-end test run this.
//
// Everything is read in bulk, page by page (three queries per 1,000 orders), so an
// audit of 100,000 orders takes seconds. docs/reliability.md says which test plants
// each violation.

#include <string>
#include <vector>

#include "commerce/shop.h"
#include "persistence/store.h"

namespace keel::audit {

struct Violation {
  int invariant = 0;    // 1..12, as numbered in SPEC section 7
  std::string subject;  // the SKU, order, hold, cart or payment it is about
  std::string message;
};

struct AuditOptions {
  // The gateway's ledger, matched to the orders (3, 4): over its API, or from its
  // ledger dir (sqlite payments_sim.db). Neither: money is not checked.
  std::string payments_url;
  std::string payments_ledger_dir;
  // The engine store: each order's lines against its checkout's snapshot (10), and
  // every checkout run against its order (12). Null: those two are not checked.
  persistence::Store* engine = nullptr;
  // Liveness (5), leaked holds (6) and unresolved checkouts (12) hold only once the
  // system is quiet; without `quiescent` they are not checked.
  bool quiescent = true;
  Millis payment_window_ms = 15 * 60 * 1000;
  Millis liveness_bound_ms = 60'000;
};

struct Report {
  std::vector<Violation> violations;
  int64_t orders = 0, skus = 0, holds = 0, intents = 0, checkouts = 0;
  std::vector<std::string> skipped;  // what could not be checked, and why
};

// Every violation found; an error only when a database or the gateway cannot be read.
Result<Report> Audit(commerce::Shop& shop, const AuditOptions& options);
// The violations alone (end-to-end tests).
Result<std::vector<Violation>> Run(commerce::Shop& shop, const AuditOptions& options);

std::string ToString(const Violation& v);

}  // namespace keel::audit
