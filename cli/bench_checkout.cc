// keel bench checkout: POST /checkout?wait= over HTTP against the whole shop in this
// process (API, engine, workers, both simulators; or the workers as N `keel worker`
// processes on PostgreSQL), C buyers at once, and the time from each POST to its
// confirmed order.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/bench_util.h"
#include "cli/commands.h"
#include "cli/output.h"
#include "cli/shop_stack.h"
#include "common/temp_dir.h"
#include "http/client.h"

namespace keel::cli {
namespace {

struct CheckoutBenchFlags {
  std::string db;
  int checkouts = 500;
  int concurrency = 16;
  int items = 50;
  std::string payment_method = "pm_card_visa";
  std::string limits = "on";
  bool access_log = false;
  std::string latencies;     // file for each checkout's latency
  int worker_processes = 0;  // 0: workers in this process
};

CheckoutBenchFlags& F() {
  static CheckoutBenchFlags f;
  return f;
}

Result<json::value> CallJson(const http::Url& api, const std::string& method,
                             const std::string& target, const std::string& body,
                             const std::string& token, const std::string& key = "",
                             int* status = nullptr) {
  std::map<std::string, std::string> h{{"Content-Type", "application/json"}};
  if (!token.empty()) h["Authorization"] = "Bearer " + token;
  if (!key.empty()) h["Idempotency-Key"] = key;
  KEEL_ASSIGN_OR_RETURN(auto r,
                        http::HttpCall(api, method, target, body, h,
                                       {.connect_timeout_ms = 5000, .timeout_ms = 120'000}));
  if (status) *status = r.status;
  return ParseJson(r.body);
}

int RunCheckoutBench() {
  const CheckoutBenchFlags& f = F();
  std::optional<TempDir> tmp;
  auto sims_dir = TempDir::Create("keel-bench-sims");
  if (!sims_dir.ok()) return ReportError(sims_dir.status());
  auto url = BenchStoreUrl(f.db, "keel-bench-checkout", &tmp);
  if (!url.ok()) return ReportError(url.status());
  const std::string db = *url;
  ShopStackOptions o;
  o.db = db;
  o.serve = true;
  o.http = o.payments_http = o.carrier_http = "127.0.0.1:0";
  o.http_threads = std::max(16, f.concurrency + 4);
  o.sim_data = sims_dir->path();
  o.engine.activity_threads = 16;
  if (f.worker_processes > 0) {
    if (db.rfind("postgresql://", 0) != 0) {
      std::cerr << "error: --worker-processes needs a PostgreSQL --db\n";
      return kExitUsage;
    }
    o.engine.run_workflows = o.engine.run_activities = false;  // the timers stay here
  }
  o.server.access_log = f.access_log;
  if (f.limits == "off") {
    o.limits = {{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    o.max_held_units_per_buyer = o.max_pending_orders_per_buyer = 0;
  } else {
    // Every limiter and cap is consulted on every request, as in `keel serve`; the
    // rates sit above this bench's own (its buyers share one address and each checks
    // out back to back), so the figure is the cost of checking, not of throttling.
    o.limits.address_reads = o.limits.address_writes = {1e6, 2e6};
    o.limits.account_reads = o.limits.account_writes = {1e4, 2e4};
  }
  auto stack = ShopStack::Start(o);
  if (!stack.ok()) return ReportError(stack.status());
  ShopStack& s = **stack;
  auto api = http::ParseHttpUrl(s.api_url()).value();
  WorkerProcesses workers;
  for (int i = 0; i < f.worker_processes; ++i) {
    workers.Spawn({"--db", db, "--concurrency", "16", "--payments-url", s.payments_url(),
                   "--carrier-url", s.carrier_url()});
  }

  // A catalog with stock for every checkout, and one buyer per concurrent client.
  const std::string tag = std::to_string(SystemClock::Default()->Now());
  auto seller = s.shop().users().Register("bench-seller-" + tag + "@keel.test", "bench password",
                                          commerce::Role::kSeller);
  if (!seller.ok()) return ReportError(seller.status());
  std::vector<std::string> items;
  for (int i = 0; i < f.items; ++i) {
    commerce::Item item;
    item.id = "bench-" + tag + "-" + std::to_string(i);
    item.seller_id = seller->id;
    item.name = "Bench item " + std::to_string(i);
    item.description = "for keel bench checkout";
    item.price = 1000 + 37 * i;
    item.currency = "USD";
    item.category = "bench";
    item.brand = "Keel";
    auto made = s.shop().CreateItem(item, int64_t{f.checkouts} * 3 + 10);
    if (!made.ok()) return ReportError(made.status());
    items.push_back(item.id);
  }
  std::vector<std::string> tokens(f.concurrency);
  for (int c = 0; c < f.concurrency; ++c) {
    const std::string email = "bench-" + tag + "-" + std::to_string(c) + "@keel.test";
    auto user = s.shop().users().Register(email, "bench password", commerce::Role::kBuyer);
    if (!user.ok()) return ReportError(user.status());
    auto login = s.shop().users().Login(email, "bench password");
    if (!login.ok()) return ReportError(login.status());
    tokens[c] = *login;
  }

  std::atomic<int> next{0}, confirmed{0}, failed{0};
  std::mutex mu;
  std::vector<double> latencies;
  std::string first_error;
  const std::string address =
      R"("shippingAddress":{"name":"Bench","line1":"1 Loop St","city":"Localhost","postal_code":"12345","country":"US"})";
  auto client = [&](int c) {
    for (int n = next++; n < f.checkouts; n = next++) {
      const std::string& item = items[n % items.size()];
      int64_t qty = 1 + n % 3;
      int status = 0;
      auto cart = CallJson(api, "PATCH", "/cart",
                           R"({"itemId":")" + item + R"(","quantity":)" + std::to_string(qty) + "}",
                           tokens[c], "", &status);
      if (!cart.ok() || status != 200) {
        ++failed;
        std::lock_guard<std::mutex> l(mu);
        if (first_error.empty())
          first_error = cart.ok() ? json::serialize(*cart) : cart.status().ToString();
        continue;
      }
      const int64_t total = cart->at("total").as_int64();
      const std::string body = R"({"amount":)" + std::to_string(total) +
                               R"(,"paymentInfo":{"paymentType":"CARD","paymentMethod":")" +
                               f.payment_method + R"("},)" + address + "}";
      auto t0 = std::chrono::steady_clock::now();
      auto r = CallJson(api, "POST", "/checkout?wait=60", body, tokens[c],
                        "bench-" + tag + "-" + std::to_string(n), &status);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const bool ok = r.ok() && status == 200 && r->is_object() &&
                      r->as_object().contains("status") && r->at("status") != "pending_payment" &&
                      r->at("status") != "payment_failed";
      std::lock_guard<std::mutex> l(mu);
      if (ok) {
        ++confirmed;
        latencies.push_back(ms);
      } else {
        ++failed;
        if (first_error.empty()) first_error = r.ok() ? json::serialize(*r) : r.status().ToString();
        // Whatever happened, the cart is emptied for the next checkout.
        (void)CallJson(api, "DELETE", "/cart", "", tokens[c]);
      }
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < f.concurrency; ++c) threads.emplace_back(client, c);
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::sort(latencies.begin(), latencies.end());
  if (Status w = WriteLatencies(f.latencies, latencies); !w.ok()) return ReportError(w);
  auto pct = [&](double p) { return Percentile(latencies, p); };
  workers.StopAll();
  s.Stop();
  if (!first_error.empty()) std::cerr << "first failure: " << first_error.substr(0, 400) << "\n";
  std::printf(
      "checkouts=%d seconds=%.2f checkouts_per_s=%.1f p50_ms=%.1f p99_ms=%.1f confirmed=%d "
      "failed=%d\n",
      f.checkouts, seconds, confirmed.load() / seconds, pct(0.50), pct(0.99), confirmed.load(),
      failed.load());
  return failed.load() == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void AddCheckoutBench(CLI::App* bench, CliState& state) {
  auto* cmd = bench->add_subcommand("checkout", "drive POST /checkout over HTTP, shop in process");
  cmd->add_option("--db", F().db, "store URL (default: a fresh temporary SQLite dir)")
      ->envname("KEEL_DB");
  cmd->add_option("--checkouts", F().checkouts, "how many checkouts")
      ->check(CLI::Range(1, 1'000'000));
  cmd->add_option("--concurrency", F().concurrency, "checkouts in flight at once")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--items", F().items, "SKUs in the bench catalog")->check(CLI::Range(1, 10'000));
  cmd->add_option("--payment-method", F().payment_method, "gateway test method of every checkout");
  cmd->add_option("--limits", F().limits,
                  "on: every rate limiter and per-buyer cap engaged (rates above the bench's own); "
                  "off: none")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->add_flag("--access-log", F().access_log, "write the API's access log (stderr)");
  cmd->add_option("--latencies", F().latencies, "write each checkout's latency (ms) to this file");
  cmd->add_option("--worker-processes", F().worker_processes,
                  "run the workers as this many `keel worker` processes (PostgreSQL only)")
      ->check(CLI::Range(0, 64));
  cmd->callback([&state] { state.action = RunCheckoutBench; });
}

}  // namespace keel::cli
