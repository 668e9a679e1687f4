// keel bench flash-sale: one SKU with U units and B buyers at once, first on one stock
// row, then split over N shards. Each round measures the inventory alone (B threads
// reserving a unit each until none is left: holds/s) and the whole checkout over HTTP
// (B buyers checking out a unit each, again and again, until it is sold out:
// checkouts/s), and counts oversold units, which must be 0.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "audit/audit.h"
#include "cli/bench_util.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/shop_stack.h"
#include "common/temp_dir.h"
#include "http/client.h"

namespace keel::cli {
namespace {

struct FlashSaleFlags {
  std::string db;
  int64_t units = 5000;
  int buyers = 200;
  int shards = 8;
  double admissions_per_s = 0;  // the gate during the checkout phase; 0: none
};

FlashSaleFlags& F() {
  static FlashSaleFlags f;
  return f;
}

using Clock = std::chrono::steady_clock;
double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Round {
  int shards = 0;
  double holds_per_s = 0, hold_p99_ms = 0;
  double checkouts_per_s = 0, checkout_p99_ms = 0;
  int64_t holds = 0, confirmed = 0, oversold = 0, failed = 0, queued = 0;
};

// The inventory alone: `buyers` threads reserve one unit each, again and again, until
// the SKU is sold out.
Status HoldsPhase(commerce::Shop& shop, const std::string& sku, Round* r) {
  const FlashSaleFlags& f = F();
  std::atomic<int64_t> next{0}, made{0};
  std::atomic<bool> sold_out{false};
  std::mutex mu;
  std::vector<double> ms;
  Status first = Status::Ok();
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int b = 0; b < f.buyers; ++b) {
    threads.emplace_back([&] {
      while (!sold_out) {
        const std::string id = sku + "/h" + std::to_string(next++);
        auto t = Clock::now();
        Status s = shop.inventory().Reserve({{id, sku, 1}}, "o-" + id, 600'000);
        const double took = MsSince(t);
        std::lock_guard<std::mutex> l(mu);
        if (s.ok()) {
          ++made;
          ms.push_back(took);
        } else if (s.reason() == "insufficient_stock") {
          sold_out = true;
        } else if (first.ok()) {
          first = s;
          sold_out = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = MsSince(t0) / 1000;
  std::sort(ms.begin(), ms.end());
  r->holds = made;
  r->holds_per_s = made / seconds;
  r->hold_p99_ms = Percentile(ms, 0.99);
  return first;
}

// The whole checkout over HTTP, until the SKU is sold out.
void CheckoutPhase(const http::Url& api, const std::vector<std::string>& tokens,
                   const std::string& item, const std::string& tag, Round* r) {
  std::atomic<bool> sold_out{false};
  std::atomic<int64_t> confirmed{0}, failed{0}, queued{0}, seq{0};
  std::mutex mu;
  std::vector<double> ms;
  const std::string address =
      R"("shippingAddress":{"name":"Bench","line1":"1 Loop St","city":"Localhost","postal_code":"12345","country":"US"})";
  auto buyer = [&](const std::string& token) {
    std::map<std::string, std::string> h{{"Content-Type", "application/json"},
                                         {"Authorization", "Bearer " + token}};
    const http::CallOptions o{.connect_timeout_ms = 5000, .timeout_ms = 120'000};
    while (!sold_out) {
      auto cart = http::HttpCall(api, "PATCH", "/cart",
                                 R"({"itemId":")" + item + R"(","quantity":1})", h, o);
      if (!cart.ok() || cart->status != 200) {
        if (cart.ok() && cart->body.find("insufficient_stock") != std::string::npos) break;
        ++failed;
        continue;
      }
      auto total = ParseJson(cart->body).value().at("total").as_int64();
      std::map<std::string, std::string> ck = h;
      ck["Idempotency-Key"] = tag + "-" + std::to_string(seq++);
      const std::string body = R"({"amount":)" + std::to_string(total) +
                               R"(,"paymentInfo":{"paymentType":"CARD","paymentMethod":)"
                               R"("pm_card_visa"},)" +
                               address + "}";
      auto t = Clock::now();
      for (;;) {
        auto res = http::HttpCall(api, "POST", "/checkout?wait=60", body, ck, o);
        if (res.ok() && res->status == 429) {  // in line: come back when told
          ++queued;
          std::this_thread::sleep_for(std::chrono::seconds(std::stoi(res->headers["retry-after"])));
          continue;
        }
        const double took = MsSince(t);
        auto v = res.ok() ? ParseJson(res->body) : Result<json::value>(res.status());
        const std::string status = v.ok() && v->is_object() && v->as_object().contains("status")
                                       ? std::string(v->at("status").as_string())
                                       : "";
        std::lock_guard<std::mutex> l(mu);
        if (status == "confirmed") {
          ++confirmed;
          ms.push_back(took);
        } else if (status == "rejected") {
          sold_out = true;
        } else {
          ++failed;
        }
        break;
      }
      (void)http::HttpCall(api, "DELETE", "/cart", "", h, o);
    }
  };
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (const auto& token : tokens) threads.emplace_back(buyer, token);
  for (auto& t : threads) t.join();
  const double seconds = MsSince(t0) / 1000;
  std::sort(ms.begin(), ms.end());
  r->confirmed = confirmed;
  r->checkouts_per_s = confirmed / seconds;
  r->checkout_p99_ms = Percentile(ms, 0.99);
  r->failed = failed;
  r->queued = queued;
}

Result<std::string> NewItem(commerce::Shop& shop, const std::string& seller, const std::string& id,
                            int64_t units) {
  commerce::Item item;
  item.id = id;
  item.seller_id = seller;
  item.name = "Flash sale console " + id;
  item.description = "for keel bench flash-sale";
  item.price = 29900;
  item.currency = "USD";
  item.category = "bench";
  item.brand = "Keel";
  KEEL_RETURN_IF_ERROR(shop.CreateItem(item, units).status());
  return id;
}

Status RunRound(ShopStack& s, const std::string& seller, const std::vector<std::string>& tokens,
                const std::string& tag, Round* r) {
  const FlashSaleFlags& f = F();
  const std::string round = tag + "-" + std::to_string(r->shards);
  KEEL_ASSIGN_OR_RETURN(std::string holds_sku,
                        NewItem(s.shop(), seller, "flash-holds-" + round, f.units));
  KEEL_ASSIGN_OR_RETURN(std::string item, NewItem(s.shop(), seller, "flash-" + round, f.units));
  if (r->shards > 1) {
    KEEL_RETURN_IF_ERROR(s.shop().inventory().SetShards(holds_sku, r->shards));
    KEEL_RETURN_IF_ERROR(s.shop().inventory().SetShards(item, r->shards));
  }
  KEEL_RETURN_IF_ERROR(HoldsPhase(s.shop(), holds_sku, r));
  CheckoutPhase(http::ParseHttpUrl(s.api_url()).value(), tokens, item, round, r);
  KEEL_ASSIGN_OR_RETURN(commerce::StockLevel level, s.shop().inventory().Level(item));
  KEEL_ASSIGN_OR_RETURN(commerce::StockLevel holds, s.shop().inventory().Level(holds_sku));
  r->oversold = std::max<int64_t>(0, level.committed - f.units) +
                std::max<int64_t>(0, r->confirmed - f.units) +
                std::max<int64_t>(0, holds.held + holds.committed - f.units);
  return Status::Ok();
}

int RunFlashSaleBench() {
  const FlashSaleFlags& f = F();
  std::optional<TempDir> tmp;
  auto sims_dir = TempDir::Create("keel-bench-sims");
  if (!sims_dir.ok()) return ReportError(sims_dir.status());
  auto url = BenchStoreUrl(f.db, "keel-bench-flash-sale", &tmp);
  if (!url.ok()) return ReportError(url.status());
  ShopStackOptions o;
  o.db = *url;
  o.serve = true;
  o.http = o.payments_http = o.carrier_http = "127.0.0.1:0";
  o.http_threads = std::max(16, f.buyers / 4);
  o.sim_data = sims_dir->path();
  o.engine.activity_threads = 32;
  o.limits = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
  o.max_held_units_per_buyer = o.max_pending_orders_per_buyer = 0;
  o.admission.per_s = o.admission.burst = f.admissions_per_s;
  o.cart_reminder_after_ms = 0;
  o.waits.max_per_owner = o.waits.max_total = 100'000;
  auto stack = ShopStack::Start(o);
  if (!stack.ok()) return ReportError(stack.status());
  ShopStack& s = **stack;
  const std::string tag = std::to_string(SystemClock::Default()->Now());
  auto seller = s.shop().users().Register("flash-seller-" + tag + "@keel.test", "bench password",
                                          commerce::Role::kSeller);
  if (!seller.ok()) return ReportError(seller.status());
  // One account per buyer, signed up two at a time (password hashing is the cost).
  std::vector<std::string> tokens(f.buyers);
  std::atomic<int> next{0};
  Status signup = Status::Ok();
  std::mutex mu;
  std::vector<std::thread> signups;
  for (int t = 0; t < 2; ++t) {
    signups.emplace_back([&] {
      for (int i = next++; i < f.buyers; i = next++) {
        const std::string email = "flash-" + tag + "-" + std::to_string(i) + "@keel.test";
        auto user = s.shop().users().Register(email, "bench password", commerce::Role::kBuyer);
        auto login = user.ok() ? s.shop().users().Login(email, "bench password")
                               : Result<std::string>(user.status());
        std::lock_guard<std::mutex> l(mu);
        if (login.ok()) tokens[i] = *login;
        if (!login.ok() && signup.ok()) signup = login.status();
      }
    });
  }
  for (auto& t : signups) t.join();
  if (!signup.ok()) return ReportError(signup);
  std::vector<Round> rounds{{0}, {f.shards}};
  for (auto& r : rounds) {
    if (Status st = RunRound(s, seller->id, tokens, tag, &r); !st.ok()) return ReportError(st);
    std::printf(
        "shards=%d units=%lld buyers=%d holds_per_s=%.0f hold_p99_ms=%.1f checkouts_per_s=%.1f "
        "checkout_p99_ms=%.1f confirmed=%lld queued=%lld failed=%lld oversold=%lld\n",
        r.shards, static_cast<long long>(f.units), f.buyers, r.holds_per_s, r.hold_p99_ms,
        r.checkouts_per_s, r.checkout_p99_ms, static_cast<long long>(r.confirmed),
        static_cast<long long>(r.queued), static_cast<long long>(r.failed),
        static_cast<long long>(r.oversold));
    std::fflush(stdout);
  }
  // The audit's word on stock and orders (invariants 1 and 2 among them), once the
  // shipments the checkouts started have settled (an order moving while the audit
  // reads it would be a false alarm).
  for (int i = 0; i < 600 && !s.engine().Idle(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  audit::AuditOptions ao;
  ao.quiescent = false;
  auto v = audit::Run(s.shop(), ao);
  s.Stop();
  if (!v.ok()) return ReportError(v.status());
  for (const auto& x : *v) std::cerr << "audit: " << audit::ToString(x) << "\n";
  bool oversold = false;
  for (const auto& r : rounds) oversold = oversold || r.oversold > 0;
  std::printf("audit_violations=%zu\n", v->size());
  return oversold || !v->empty() ? kExitFailure : kExitOk;
}

}  // namespace

void AddFlashSaleBench(CLI::App* bench, CliState& state) {
  auto* cmd = bench->add_subcommand(
      "flash-sale", "one hot SKU, many buyers at once: one stock row against N shards");
  cmd->add_option("--db", F().db, "store URL (default: a fresh temporary SQLite dir)")
      ->envname("KEEL_DB");
  cmd->add_option("--units", F().units, "units of the SKU on sale")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  cmd->add_option("--buyers", F().buyers, "buyers at once")->check(CLI::Range(1, 1000));
  cmd->add_option("--shards", F().shards, "stock shards of the second round")
      ->check(CLI::Range(2, static_cast<int>(commerce::kMaxShards)));
  cmd->add_option("--admissions-per-s", F().admissions_per_s,
                  "the hot SKU's admission gate in the checkout phase (0: none)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->callback([&state] { state.action = RunFlashSaleBench; });
}

}  // namespace keel::cli
