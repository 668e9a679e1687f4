// keel audit: the invariants of SPEC section 7 over a shop's databases, its engine
// store and its gateway's ledger; --repair does the safe subset of fixes.

#include <filesystem>
#include <iostream>

#include "audit/audit.h"
#include "audit/repair.h"
#include "cli/commands.h"
#include "cli/shop_stack.h"
#include "persistence/open_store.h"
#include "persistence/sql/sql_database.h"

namespace keel::cli {
namespace {

struct AuditFlags {
  std::string db = "sqlite:./keel-data";
  std::string payments_url = kDefaultPaymentsUrl;
  std::string payments_ledger;
  int64_t window_ms = 15 * 60 * 1000;
  int64_t bound_ms = 60'000;
  bool in_flight = false;
  bool repair = false;
  CLI::Option* url_option = nullptr;
};

// Where the gateway's ledger is read from: --payments-ledger, or --payments-url, or
// else the ledger dir `keel serve` and `keel chaos` use (the sqlite data dir, or
// ./keel-sim-data beside a PostgreSQL shop) when it holds one, or else the gateway
// at its default URL.
void ChooseLedger(const AuditFlags& f, audit::AuditOptions* o) {
  if (!f.payments_ledger.empty()) {
    o->payments_ledger_dir = f.payments_ledger;
    return;
  }
  if (f.url_option->count() > 0) {
    o->payments_url = f.payments_url;
    return;
  }
  const std::string dir = f.db.rfind("sqlite:", 0) == 0 ? f.db.substr(7) : "./keel-sim-data";
  if (std::filesystem::exists(std::filesystem::path(dir) / "payments_sim.db")) {
    o->payments_ledger_dir = dir;
  } else {
    o->payments_url = f.payments_url;
  }
}

// An audit that could not run exits 2, never 1: 1 means it found a violation.
int CannotAudit(const Status& s) {
  ReportError(s);
  return kExitUsage;
}

int RunAudit(const AuditFlags& f) {
  // An audit of a mistyped --db must not create (and then pass) an empty shop.
  for (const char* service : {"orders", "inventory"}) {
    auto exists = persistence::SqlDatabaseExists(f.db, service);
    if (!exists.ok()) return CannotAudit(exists.status());
    if (!*exists) {
      std::cerr << "error: no shop at " << persistence::DisplayUrl(f.db) << " (its " << service
                << " database is missing); check --db\n";
      return kExitUsage;
    }
  }
  commerce::ShopOptions so;
  so.connect_retry_ms = 3000;
  auto shop = commerce::Shop::Open(f.db, SystemClock::Default(), so);
  if (!shop.ok()) return CannotAudit(shop.status());
  auto store = OpenDb(f.db);
  if (!store.ok()) return CannotAudit(store.status());
  audit::AuditOptions o;
  ChooseLedger(f, &o);
  o.engine = store->get();
  o.payment_window_ms = f.window_ms;
  o.liveness_bound_ms = f.bound_ms;
  o.quiescent = !f.in_flight;
  if (f.repair) {
    auto done = audit::Repair(**shop, **store, o);
    if (!done.ok()) return CannotAudit(done.status());
    for (const auto& line : *done) std::cout << "repair: " << line << "\n";
    if (done->empty()) std::cout << "repair: nothing to do\n";
  }
  auto started = std::chrono::steady_clock::now();
  auto report = audit::Audit(**shop, o);
  if (!report.ok()) return CannotAudit(report.status());
  for (const auto& v : report->violations) std::cout << audit::ToString(v) << "\n";
  for (const auto& s : report->skipped) std::cout << "not checked: " << s << "\n";
  const size_t n = report->violations.size();
  std::printf(
      "audit: %zu violation%s (%lld orders, %lld SKUs, %lld active holds, %lld payment "
      "intents from %s, %lld checkouts; %.1f s)\n",
      n, n == 1 ? "" : "s", static_cast<long long>(report->orders),
      static_cast<long long>(report->skus), static_cast<long long>(report->holds),
      static_cast<long long>(report->intents),
      !o.payments_ledger_dir.empty() ? ("the ledger in " + o.payments_ledger_dir).c_str()
                                     : o.payments_url.c_str(),
      static_cast<long long>(report->checkouts),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return n == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void AddAuditCommand(CLI::App& app, CliState& state) {
  static AuditFlags f;
  auto* cmd = app.add_subcommand(
      "audit",
      "check every invariant of SPEC section 7; exit 1 if any fails, 2 if it cannot check");
  cmd->add_option("--db", f.db, "sqlite:DIR or postgresql://... (must exist)")->envname("KEEL_DB");
  f.url_option = cmd->add_option("--payments-url", f.payments_url,
                                 "read the gateway's ledger through its API");
  cmd->add_option("--payments-ledger", f.payments_ledger,
                  "read the gateway's ledger from this dir (payments_sim.db), for a gateway "
                  "that is down (default: the sqlite data dir, when it holds one)");
  cmd->add_option("--payment-window-ms", f.window_ms, "the shop's payment window (liveness check)")
      ->check(CLI::Range(int64_t{1}, int64_t{7} * 24 * 3600 * 1000));
  cmd->add_option("--liveness-bound-ms", f.bound_ms,
                  "how long past its window an order may still be pending_payment")
      ->check(CLI::Range(int64_t{0}, int64_t{7} * 24 * 3600 * 1000));
  cmd->add_flag("--in-flight", f.in_flight,
                "the system is still running: skip the checks that need quiescence (5, 6, 12)");
  cmd->add_flag("--repair", f.repair,
                "first do the safe fixes: mark expired holds, and start the expiry of orders "
                "stuck past their window whose checkout has ended; say what was done");
  cmd->callback([&state] { state.action = [] { return RunAudit(f); }; });
}

}  // namespace keel::cli
