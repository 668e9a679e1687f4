// keel audit: the invariants of SPEC section 7 over a shop's databases and its gateway.

#include <iostream>

#include "audit/audit.h"
#include "cli/commands.h"
#include "cli/shop_stack.h"

namespace keel::cli {

void AddAuditCommand(CLI::App& app, CliState& state) {
  static std::string db = "sqlite:./keel-data";
  static std::string payments_url = kDefaultPaymentsUrl;
  static int64_t window_ms = 15 * 60 * 1000;
  static bool in_flight = false;
  auto* cmd =
      app.add_subcommand("audit", "check every invariant of SPEC section 7; exit 1 if any fails");
  cmd->add_option("--db", db, "sqlite:DIR or postgresql://...")->envname("KEEL_DB");
  cmd->add_option("--payments-url", payments_url, "the gateway whose ledger is matched to orders");
  cmd->add_option("--payment-window-ms", window_ms, "the shop's payment window (liveness check)")
      ->check(CLI::Range(int64_t{1}, int64_t{7} * 24 * 3600 * 1000));
  cmd->add_flag("--in-flight", in_flight,
                "the system is still running: skip the checks that need quiescence (5, 6)");
  cmd->callback([&state] {
    state.action = [] {
      commerce::ShopOptions so;
      so.connect_retry_ms = 3000;
      auto shop = commerce::Shop::Open(db, SystemClock::Default(), so);
      if (!shop.ok()) return ReportError(shop.status());
      audit::AuditOptions o;
      o.payments_url = payments_url;
      o.payment_window_ms = window_ms;
      o.quiescent = !in_flight;
      auto v = audit::Run(**shop, o);
      if (!v.ok()) return ReportError(v.status());
      for (const auto& x : *v) std::cout << audit::ToString(x) << "\n";
      std::cout << "audit: " << v->size() << " violation" << (v->size() == 1 ? "" : "s") << "\n";
      return v->empty() ? kExitOk : kExitFailure;
    };
  });
}

}  // namespace keel::cli
