#include "cli/chaos/drill.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "audit/audit.h"
#include "cli/chaos/process.h"
#include "cli/commands.h"
#include "common/ids.h"
#include "http/client.h"
#include "persistence/open_store.h"

namespace keel::cli {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

Result<http::ClientResponse> Call(const std::string& base, const std::string& method,
                                  const std::string& target, const std::string& body = "",
                                  std::map<std::string, std::string> headers = {}) {
  KEEL_ASSIGN_OR_RETURN(http::Url url, http::ParseHttpUrl(base));
  if (!body.empty()) headers["Content-Type"] = "application/json";
  return http::HttpCall(url, method, target, body, headers,
                        {.connect_timeout_ms = 1000, .timeout_ms = 15'000});
}

// Whether a server answers: the API's health check, the gateway's list of intents,
// or the carrier's 404 for a shipment that does not exist.
enum class Probe { kApi, kPayments, kCarrier };
bool Up(const std::string& base, Probe p) {
  auto r = Call(base, "GET",
                p == Probe::kApi        ? "/healthz"
                : p == Probe::kPayments ? "/v1/payment_intents?limit=1"
                                        : "/v1/shipments/none");
  return r.ok() && r->status == (p == Probe::kCarrier ? 404 : 200);
}

// ---- the deployment: every process of the shop, each on a port of its own --------

struct Deployment {
  DrillOptions o;
  std::string dir, secret_file, control_file, sim_dir;
  int api_port = 0, pay_port = 0, car_port = 0;
  std::unique_ptr<ChildProcess> api, payments, carrier;
  std::vector<std::unique_ptr<ChildProcess>> workers;
  std::vector<std::string> identities;
  std::vector<int> generation;
  std::string control_token;

  std::string api_url() const { return "http://127.0.0.1:" + std::to_string(api_port); }
  std::string pay_url() const { return "http://127.0.0.1:" + std::to_string(pay_port); }
  std::string car_url() const { return "http://127.0.0.1:" + std::to_string(car_port); }

  std::unique_ptr<ChildProcess> MakeWorker(size_t i) {
    identities[i] = "chaos-worker-" + std::to_string(i) + "." + std::to_string(++generation[i]);
    return std::make_unique<ChildProcess>(
        "worker-" + std::to_string(i),
        std::vector<std::string>{o.binary, "worker", "--db", o.db, "--payments-url", pay_url(),
                                 "--carrier-url", car_url(), "--identity", identities[i],
                                 "--concurrency", "8"},
        dir + "/worker-" + std::to_string(i) + ".log");
  }

  Status Prepare() {
    control_token = NewSecretHex(16);
    secret_file = dir + "/webhook-secret";
    control_file = dir + "/control-token";
    std::ofstream(secret_file) << "whsec_" << NewSecretHex(24) << "\n";
    std::ofstream(control_file) << control_token << "\n";
    sim_dir = !o.sim_data.empty()             ? o.sim_data
              : o.db.rfind("sqlite:", 0) == 0 ? o.db.substr(7)
                                              : "./keel-sim-data";
    api_port = FreePort();
    pay_port = FreePort();
    car_port = FreePort();
    if (!api_port || !pay_port || !car_port) {
      return Status::Unavailable("no free loopback ports", "no_ports");
    }
    payments = std::make_unique<ChildProcess>(
        "payments",
        std::vector<std::string>{
            o.binary, "sim", "payments", "--http", "127.0.0.1:" + std::to_string(pay_port),
            "--data", sim_dir, "--webhook-url", api_url() + "/webhooks/payments",
            "--webhook-secret-file", secret_file, "--control-token-file", control_file},
        dir + "/payments.log");
    carrier = std::make_unique<ChildProcess>(
        "carrier",
        std::vector<std::string>{
            o.binary, "sim", "carrier", "--http", "127.0.0.1:" + std::to_string(car_port), "--data",
            sim_dir, "--webhook-url", api_url() + "/webhooks/carrier", "--webhook-secret-file",
            secret_file, "--control-token-file", control_file, "--speed", "200"},
        dir + "/carrier.log");
    // Clients share one address here, and each buyer checks out back to back: the
    // limits stay on, above the drill's own rate.
    api = std::make_unique<ChildProcess>(
        "api",
        std::vector<std::string>{o.binary,
                                 "serve",
                                 "--db",
                                 o.db,
                                 "--no-workers",
                                 "--http",
                                 "127.0.0.1:" + std::to_string(api_port),
                                 "--payments-url",
                                 pay_url(),
                                 "--carrier-url",
                                 car_url(),
                                 "--webhook-secret-file",
                                 secret_file,
                                 "--seed-demo",
                                 "0",
                                 "--payment-window-ms",
                                 std::to_string(o.payment_window_ms),
                                 "--address-read-rate",
                                 "100000",
                                 "--address-write-rate",
                                 "100000",
                                 "--auth-address-rate",
                                 "10000",
                                 "--account-write-rate",
                                 "1000",
                                 "--max-pending-orders-per-buyer",
                                 "50",
                                 "--max-held-units-per-buyer",
                                 "1000"},
        dir + "/api.log");
    identities.resize(o.workers);
    generation.resize(o.workers);
    for (int i = 0; i < o.workers; ++i) workers.push_back(MakeWorker(i));
    return Status::Ok();
  }

  Status Start() {
    if (!payments->Start() || !carrier->Start() || !api->Start()) {
      return Status::Unavailable("cannot start a process", "spawn_failed");
    }
    for (auto& w : workers) w->Start();
    for (int i = 0; i < 600; ++i) {
      if (Up(api_url(), Probe::kApi) && Up(pay_url(), Probe::kPayments) &&
          Up(car_url(), Probe::kCarrier)) {
        return Status::Ok();
      }
      if (i % 20 == 0 && !api->Running()) {
        return Status::Unavailable("keel serve exited at start; see " + dir + "/api.log",
                                   "spawn_failed");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return Status::Unavailable("the shop did not come up; logs in " + dir, "spawn_failed");
  }

  // The gateway's and the carrier's faults (kept in their memory: set again after a
  // restart). `on` false clears them.
  void SetFaults(bool on) {
    std::map<std::string, std::string> auth{{"Authorization", "Bearer " + control_token}};
    (void)Call(pay_url(), "POST", "/v1/sim/faults",
               on ? R"({"fail_rate":0.05,"drop_response_rate":0.05,"latency_ms":20,)"
                    R"("duplicate_rate":0.2,"max_delay_ms":300,"three_ds_delay_ms":800})"
                  : R"({"fail_rate":0,"drop_response_rate":0,"latency_ms":0,)"
                    R"("duplicate_rate":0,"max_delay_ms":0})",
               auth);
    (void)Call(car_url(), "POST", "/v1/sim/faults",
               on ? R"({"duplicate_rate":0.2,"max_delay_ms":300})"
                  : R"({"duplicate_rate":0,"max_delay_ms":0})",
               auth);
  }

  void StopAll() {
    for (auto& w : workers) w->Stop();
    api->Stop();
    payments->Stop();
    carrier->Stop();
  }
};

// ---- traffic: clients checking out scarce stock ----------------------------------

struct Checkout {
  std::string order_id, token, method;
  bool cancel = false;
};

class Traffic {
 public:
  Traffic(const DrillOptions& o, const std::string& api) : o_(o), api_(api) {}

  Status Setup(std::mt19937_64& rng) {
    KEEL_ASSIGN_OR_RETURN(std::string seller, Login("seller", "seller"));
    const int64_t stock = std::max<int64_t>(5, o_.checkouts / (2 * std::max(1, o_.hot_skus)));
    for (int i = 0; i < o_.hot_skus; ++i) {
      std::string body = R"({"name":"Hot item )" + std::to_string(i) + R"(","price":)" +
                         std::to_string(900 + 100 * i) +
                         R"(,"currency":"USD","category":"chaos","quantity":)" +
                         std::to_string(stock) + "}";
      KEEL_ASSIGN_OR_RETURN(auto r, Retry("POST", "/items", body, seller, ""));
      if (r.status != 201) return Status::Internal("creating an item: " + r.body, "drill_setup");
      skus_.push_back(std::string(ParseJson(r.body)->at("id").as_string()));
    }
    for (int c = 0; c < o_.clients * kBuyersPerClient; ++c) {
      KEEL_ASSIGN_OR_RETURN(std::string t, Login("buyer" + std::to_string(c), "buyer"));
      buyers_.push_back(t);
    }
    seed_ = rng();
    return Status::Ok();
  }

  void Start(Clock::time_point until) {
    for (int c = 0; c < o_.clients; ++c) {
      threads_.emplace_back([this, c, until] { Client(c, until); });
    }
    threads_.emplace_back([this, until] { Returner(until); });
  }
  void Join() {
    for (auto& t : threads_) t.join();
  }
  int started() const { return started_.load(); }
  int accepted() {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<int>(checkouts_.size());
  }
  int sold_out() const { return sold_out_.load(); }
  int given_up() const { return given_up_.load(); }
  std::vector<Checkout> checkouts() {
    std::lock_guard<std::mutex> l(mu_);
    return checkouts_;
  }

 private:
  Result<std::string> Login(const std::string& who, const std::string& role) {
    const std::string email = who + "-" + std::to_string(o_.seed) + "@chaos.test";
    const std::string cred = R"({"email":")" + email + R"(","password":"chaos password")";
    KEEL_RETURN_IF_ERROR(
        Retry("POST", "/auth/register", cred + R"(,"role":")" + role + R"("})", "", "reg-" + email)
            .status());
    KEEL_ASSIGN_OR_RETURN(auto r, Retry("POST", "/auth/login", cred + "}", "", ""));
    if (r.status != 200) return Status::Internal("login: " + r.body, "drill_setup");
    return std::string(ParseJson(r.body)->at("token").as_string());
  }

  // A call retried through faults (the API down, a 5xx, a 429) with the same key,
  // for up to 60 s.
  Result<http::ClientResponse> Retry(const std::string& method, const std::string& target,
                                     const std::string& body, const std::string& token,
                                     const std::string& key) {
    std::map<std::string, std::string> h;
    if (!token.empty()) h["Authorization"] = "Bearer " + token;
    if (!key.empty()) h["Idempotency-Key"] = key;
    Status last;
    for (auto t0 = Clock::now(); SecondsSince(t0) < 60;) {
      auto r = Call(api_, method, target, body, h);
      if (r.ok() && r->status < 500 && r->status != 429 && r->status != 409) return r;
      if (r.ok() && r->status == 409 &&
          r->body.find("idempotency_key_in_use") == std::string::npos &&
          r->body.find("checkout_in_progress") == std::string::npos) {
        return r;
      }
      last = r.ok() ? Status::Unavailable("HTTP " + std::to_string(r->status)) : r.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return last;
  }

  void Client(int c, Clock::time_point until) {
    std::mt19937_64 rng(seed_ + c);
    const int quota = (o_.checkouts + o_.clients - 1) / o_.clients;
    const double pace_s = static_cast<double>(o_.duration_s) / std::max(1, quota);
    // Checkout n starts at t0 + n * pace: a client held up by a fault catches up
    // afterwards, so the drill makes the checkouts it was asked for.
    const auto t0 = Clock::now();
    for (int n = 0; n < quota && Clock::now() < until; ++n) {
      if (started_.fetch_add(1) >= o_.checkouts) break;
      const std::string& token =
          buyers_[(c * kBuyersPerClient + n % kBuyersPerClient) % buyers_.size()];
      const std::string& sku = skus_[rng() % skus_.size()];
      const int roll = static_cast<int>(rng() % 100);
      const char* method = roll < 55   ? "pm_card_visa"
                           : roll < 67 ? "pm_card_chargeDeclined"
                           : roll < 92 ? "pm_card_threeDSecure"
                                       : "pm_card_threeDSecureAbandoned";
      const bool cancel = roll >= 82;  // some 3-D Secure ones, and every abandoned one
      CheckoutOne(c, n, token, sku, 1 + static_cast<int>(rng() % 2), method, cancel);
      const double ahead = pace_s * (n + 1) - SecondsSince(t0);
      if (ahead > 0) std::this_thread::sleep_for(std::chrono::duration<double>(ahead));
    }
  }

  void CheckoutOne(int c, int n, const std::string& token, const std::string& sku, int qty,
                   const char* method, bool cancel) {
    const std::string key =
        "chaos-" + std::to_string(o_.seed) + "-" + std::to_string(c) + "-" + std::to_string(n);
    auto cart =
        Retry("PATCH", "/cart",
              R"({"itemId":")" + sku + R"(","quantity":)" + std::to_string(qty) + "}", token, "");
    int64_t total = 0;
    if (cart.ok() && cart->status == 200) total = ParseJson(cart->body)->at("total").as_int64();
    if (total == 0) {  // sold out, say: nothing to check out this time
      ++sold_out_;
      (void)Retry("DELETE", "/cart", "", token, "");
      return;
    }
    const std::string body =
        R"({"amount":)" + std::to_string(total) +
        R"(,"paymentInfo":{"paymentType":"CARD","paymentMethod":")" + method +
        R"("},"shippingAddress":{"name":"Chaos","line1":"1 Loop St","city":"Localhost",)"
        R"("postal_code":"12345","country":"US"}})";
    auto r = Retry("POST", "/checkout", body, token, key);
    if (!r.ok() || r->status != 202) {
      if (!r.ok() || r->status >= 500) ++given_up_;
      (void)Retry("DELETE", "/cart", "", token, "");
      return;
    }
    Checkout co{std::string(ParseJson(r->body)->at("order_id").as_string()), token, method, cancel};
    {
      std::lock_guard<std::mutex> l(mu_);
      checkouts_.push_back(co);
    }
    if (cancel) {
      std::this_thread::sleep_for(std::chrono::milliseconds(150));
      (void)Retry("POST", "/orders/" + co.order_id + "/cancel", "", token, key + "-cancel");
    }
  }

  // Returns some delivered orders.
  void Returner(Clock::time_point until) {
    std::mt19937_64 rng(seed_ ^ 0x5EED);
    std::set<std::string> tried;
    while (Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      for (const auto& co : checkouts()) {
        if (tried.count(co.order_id) || Clock::now() >= until) continue;
        auto o = Call(api_, "GET", "/orders/" + co.order_id, "",
                      {{"Authorization", "Bearer " + co.token}});
        if (!o.ok() || o->status != 200) continue;
        auto j = ParseJson(o->body);
        if (!j.ok() || j->at("status") != "delivered") continue;
        tried.insert(co.order_id);
        if (rng() % 4 == 0) {
          (void)Retry("POST", "/orders/" + co.order_id + "/return", "", co.token,
                      "return-" + co.order_id);
        }
      }
    }
  }

  const DrillOptions& o_;
  std::string api_;
  // A buyer's next checkout waits (409 checkout_in_progress, retried) until the one
  // before has left pending_payment; with a few buyers per client, those waits (a
  // 3-D Secure left unfinished holds its cart for the whole payment window) would set
  // the drill's pace instead of --checkouts.
  static constexpr int kBuyersPerClient = 8;
  std::vector<std::string> skus_, buyers_;
  uint64_t seed_ = 0;
  std::atomic<int> started_{0}, given_up_{0}, sold_out_{0};
  std::mutex mu_;
  std::vector<Checkout> checkouts_;
  std::vector<std::thread> threads_;
};

// ---- faults, and how long the system takes to recover from each ------------------

struct FaultLog {
  struct Fault {
    double at_s;       // since the drill began
    std::string what;  // "SIGKILL worker-1"
    size_t held = 0;   // runs the process held leases on (workers)
    double recovery_s = -1;
  };
  std::mutex mu;
  std::map<std::string, int> counts;  // "SIGKILL api" -> n
  std::vector<Fault> faults;
  int unrecovered = 0;
  size_t Add(double at_s, const std::string& what, size_t held) {
    std::lock_guard<std::mutex> l(mu);
    ++counts[what];
    faults.push_back({at_s, what, held});
    return faults.size() - 1;
  }
  void Recovered(size_t i, double s) {
    std::lock_guard<std::mutex> l(mu);
    faults[i].recovery_s = s;
    if (s < 0) ++unrecovered;
  }
};

// What a worker held when it was killed or stopped: per run, the run's next event id
// and the lease token of each task it had leased.
struct Held {
  int64_t next_event_id = 0;
  std::map<int64_t, int64_t> tasks;  // task id -> lease token
};
std::map<std::string, Held> HeldRuns(persistence::Store& store, const std::string& owner) {
  std::map<std::string, Held> held;
  for (const char* q :
       {"workflows", "inventory", "payment", "orders", "shipping", "notifications"}) {
    auto tasks = store.ListQueueTasks(q, 100'000);
    if (!tasks.ok()) continue;
    for (const auto& t : *tasks) {
      if (t.lease_owner != owner) continue;
      auto e = store.ReadExecution(t.run_id);
      if (!e.ok() || !*e) continue;
      held[t.run_id].next_event_id = (*e)->next_event_id;
      held[t.run_id].tasks[t.id] = t.lease_token;
    }
  }
  return held;
}

// Whether the system has taken over from the worker for this run: the run has a new
// event or closed, or every task the worker held is done or leased again (a step
// retried with backoff writes no event until it succeeds, so events alone would count
// a retry's wait as the fault's).
bool TakenOver(persistence::Store& store, const std::string& run, const Held& h) {
  auto e = store.ReadExecution(run);
  if (!e.ok()) return false;
  if (!*e || (*e)->next_event_id > h.next_event_id ||
      (*e)->status != persistence::ExecutionStatus::kRunning) {
    return true;
  }
  auto tasks = store.ListTasksOfRun(run);
  if (!tasks.ok()) return false;
  for (const auto& [id, token] : h.tasks) {
    for (const auto& t : *tasks) {
      if (t.id == id && t.lease_token <= token) return false;  // not leased again yet
    }
  }
  return true;
}

// Seconds until every run in `held` was taken over (TakenOver), up to `limit_s`; -1
// when that never happened, after printing the runs still waiting.
double WaitMoved(persistence::Store& store, std::map<std::string, Held> held,
                 Clock::time_point since, double limit_s) {
  while (SecondsSince(since) < limit_s) {
    for (auto it = held.begin(); it != held.end();) {
      it = TakenOver(store, it->first, it->second) ? held.erase(it) : std::next(it);
    }
    if (held.empty()) return SecondsSince(since);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& [run, h] : held) {
    std::printf("chaos: run %s not taken over after %.0f s (%zu tasks held)\n", run.c_str(),
                limit_s, h.tasks.size());
  }
  return -1;
}

class Faults {
 public:
  Faults(Deployment& d, persistence::Store& store, FaultLog& log, uint64_t seed,
         Clock::time_point t0)
      : d_(d), store_(store), log_(log), rng_(seed), t0_(t0) {}

  // One fault every kill_every seconds (±30 %) until `until`.
  void Run(Clock::time_point until) {
    std::uniform_real_distribution<double> jitter(0.7, 1.3);
    while (Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::duration<double>(d_.o.kill_every_s * jitter(rng_)));
      ResumeDue();
      if (Clock::now() >= until) break;
      const int roll = static_cast<int>(rng_() % 100);
      if (roll < 20 && PauseAWorker()) continue;
      if (roll < 35 && !d_.o.pg_restart.empty()) {
        RestartPostgres();
        continue;
      }
      KillOne();
    }
    for (size_t i = 0; i < d_.workers.size(); ++i) {
      if (d_.workers[i]->paused()) d_.workers[i]->Resume();
    }
    for (auto& t : monitors_) t.join();
  }

 private:
  void KillOne() {
    const size_t n = 3 + d_.workers.size();
    const size_t pick = rng_() % n;
    const auto at = Clock::now();
    std::uniform_int_distribution<int> pause_ms(200, 900);
    const int down_ms = pause_ms(rng_);
    if (pick >= 3) {
      const size_t i = pick - 3;
      auto held = HeldRuns(store_, d_.identities[i]);
      d_.workers[i]->Kill();
      size_t f = log_.Add(SecondsSince(t0_), "SIGKILL " + d_.workers[i]->name(), held.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(down_ms));
      d_.workers[i] = d_.MakeWorker(i);
      d_.workers[i]->Start();
      Monitor(f, [this, held, at] { return WaitMoved(store_, held, at, 120); });
      return;
    }
    ChildProcess& p = pick == 0 ? *d_.api : pick == 1 ? *d_.payments : *d_.carrier;
    p.Kill();
    size_t f = log_.Add(SecondsSince(t0_), "SIGKILL " + p.name(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(down_ms));
    p.Start();
    const std::string url = pick == 0 ? d_.api_url() : pick == 1 ? d_.pay_url() : d_.car_url();
    const Probe probe = pick == 0 ? Probe::kApi : pick == 1 ? Probe::kPayments : Probe::kCarrier;
    if (pick != 0) {
      // The simulators keep their faults in memory.
      for (int i = 0; i < 100 && !Up(url, probe); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      d_.SetFaults(true);
    }
    Monitor(f, [url, probe, at] {
      for (;;) {
        if (Up(url, probe)) return SecondsSince(at);
        if (SecondsSince(at) > 60) return -1.0;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }

  // SIGSTOP past every lease the worker holds; it resumes later as a fenced zombie.
  bool PauseAWorker() {
    std::vector<size_t> free;
    for (size_t i = 0; i < d_.workers.size(); ++i) {
      if (!d_.workers[i]->paused()) free.push_back(i);
    }
    if (free.size() < 2) return false;  // one worker always runs
    const size_t i = free[rng_() % free.size()];
    const auto at = Clock::now();
    auto held = HeldRuns(store_, d_.identities[i]);
    d_.workers[i]->Pause();
    resume_at_[i] = at + std::chrono::milliseconds(d_.o.stop_for_ms);
    size_t f = log_.Add(SecondsSince(t0_), "SIGSTOP " + d_.workers[i]->name(), held.size());
    Monitor(f, [this, held, at] { return WaitMoved(store_, held, at, 120); });
    return true;
  }

  void ResumeDue() {
    for (auto it = resume_at_.begin(); it != resume_at_.end();) {
      if (Clock::now() < it->second) {
        ++it;
        continue;
      }
      d_.workers[it->first]->Resume();
      it = resume_at_.erase(it);
    }
  }

  void RestartPostgres() {
    const auto at = Clock::now();
    int rc = std::system(d_.o.pg_restart.c_str());
    size_t f =
        log_.Add(SecondsSince(t0_), rc == 0 ? "restart postgres" : "restart postgres (failed)", 0);
    Monitor(f, [this, at] {
      for (;;) {
        if (store_.QueueStatistics().ok()) return SecondsSince(at);
        if (SecondsSince(at) > 60) return -1.0;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }

  void Monitor(size_t fault, std::function<double()> wait) {
    monitors_.emplace_back(
        [this, fault, wait = std::move(wait)] { log_.Recovered(fault, wait()); });
  }

  Deployment& d_;
  persistence::Store& store_;
  FaultLog& log_;
  std::mt19937_64 rng_;
  Clock::time_point t0_;
  std::map<size_t, Clock::time_point> resume_at_;
  std::vector<std::thread> monitors_;
};

// ---- settling and the report -----------------------------------------------------

// Waits until no checkout saga runs and no order waits for its money.
bool Settle(persistence::Store& store, commerce::Shop& shop, const std::vector<Checkout>& all,
            double limit_s) {
  for (auto t0 = Clock::now(); SecondsSince(t0) < limit_s;) {
    persistence::ListFilter f;
    f.workflow_type = "checkout_saga";
    f.status = persistence::ExecutionStatus::kRunning;
    f.limit = 1;
    auto running = store.ListExecutions(f);
    bool pending = false;
    for (const auto& c : all) {
      auto o = shop.orders().Get(c.order_id);
      if (!o.ok() || o->status == "pending_payment") {
        pending = true;
        break;
      }
    }
    if (running.ok() && running->rows.empty() && !pending) return true;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return false;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

void Progress(double t, Traffic& traffic, FaultLog& log) {
  std::lock_guard<std::mutex> l(log.mu);
  std::string last = log.faults.empty() ? "-" : log.faults.back().what;
  std::printf("chaos: t=%.0fs checkouts=%d accepted=%d faults=%zu (last: %s)\n", t,
              traffic.started(), traffic.accepted(), log.faults.size(), last.c_str());
  std::fflush(stdout);
}

}  // namespace

int RunDrill(const DrillOptions& in) {
  DrillOptions o = in;
  if (o.seed == 0) o.seed = static_cast<uint64_t>(SystemClock::Default()->Now());
  if (o.workers < 2) o.workers = 2;
  std::error_code ec;
  if (o.work_dir.empty()) {
    o.work_dir = (std::filesystem::temp_directory_path() / ("keel-chaos-" + std::to_string(o.seed)))
                     .string();
  }
  std::filesystem::create_directories(o.work_dir, ec);
  // Ctrl-C or SIGTERM ends the drill at once, and its processes with it: they are in
  // a group of their own, which a terminal's Ctrl-C does not reach. (Blocked before
  // any thread starts, so only the watcher takes them.)
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread([stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    KillAllChildren();
    std::fprintf(stderr, "chaos: interrupted; the drill's processes were killed\n");
    _exit(130);
  }).detach();
  Deployment d{o, o.work_dir};
  if (Status s = d.Prepare(); !s.ok()) return ReportError(s);
  std::printf(
      "chaos: %d s on %s, a fault every %.1f s, %d checkouts for %d hot SKUs, seed %llu\n"
      "chaos: logs in %s\n",
      o.duration_s, persistence::DisplayUrl(o.db).c_str(), o.kill_every_s, o.checkouts, o.hot_skus,
      static_cast<unsigned long long>(o.seed), o.work_dir.c_str());
  auto store = OpenDb(o.db, 30'000);
  if (!store.ok()) return ReportError(store.status());
  if (Status s = d.Start(); !s.ok()) {
    d.StopAll();
    return ReportError(s);
  }
  d.SetFaults(true);
  std::mt19937_64 rng(o.seed);
  Traffic traffic(o, d.api_url());
  if (Status s = traffic.Setup(rng); !s.ok()) {
    d.StopAll();
    return ReportError(s);
  }
  FaultLog log;
  const auto t0 = Clock::now();
  const auto until = t0 + std::chrono::seconds(o.duration_s);
  traffic.Start(until);
  Faults faults(d, **store, log, rng(), t0);
  std::thread fault_thread([&] { faults.Run(until); });
  while (Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::seconds(5));
    Progress(SecondsSince(t0), traffic, log);
  }
  fault_thread.join();
  traffic.Join();

  // The faults stop; everything runs; the system settles.
  d.SetFaults(false);
  for (auto& w : d.workers) {
    if (w->paused()) w->Resume();
  }
  for (auto& w : d.workers) {
    if (!w->Running()) w->Start();
  }
  for (ChildProcess* p : {d.api.get(), d.payments.get(), d.carrier.get()}) {
    if (!p->Running()) p->Start();
  }
  const auto checkouts = traffic.checkouts();
  std::printf("chaos: faults stopped; settling (at most %.0f s)\n",
              o.payment_window_ms / 1000.0 + 120);
  std::fflush(stdout);
  commerce::ShopOptions so;
  so.connect_retry_ms = 30'000;
  auto shop = commerce::Shop::Open(o.db, SystemClock::Default(), so);
  if (!shop.ok()) {
    d.StopAll();
    return ReportError(shop.status());
  }
  const auto settle_t0 = Clock::now();
  const bool settled = Settle(**store, **shop, checkouts, o.payment_window_ms / 1000.0 + 120);
  const double settle_s = SecondsSince(settle_t0);

  // What became of each checkout.
  std::map<std::string, int> outcomes;
  for (const auto& c : checkouts) {
    auto ord = (*shop)->orders().Get(c.order_id);
    ++outcomes[ord.ok() ? ord->status : "(no order)"];
  }
  audit::AuditOptions ao;
  ao.payments_url = d.pay_url();
  ao.engine = store->get();
  ao.payment_window_ms = o.payment_window_ms;
  ao.liveness_bound_ms = 120'000;
  auto report = audit::Audit(**shop, ao);
  if (!report.ok()) {
    ao.payments_url.clear();
    ao.payments_ledger_dir = d.sim_dir;
    report = audit::Audit(**shop, ao);
  }
  if (o.hold_on_failure && (!settled || !report.ok() || !report->violations.empty())) {
    std::printf(
        "chaos: the drill failed; its processes keep running for inspection (api %d, "
        "payments %d, carrier %d, workers",
        d.api->pid(), d.payments->pid(), d.carrier->pid());
    for (auto& w : d.workers) std::printf(" %d", w->pid());
    std::printf("); Ctrl-C ends them\n");
    std::fflush(stdout);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    sigwait(&set, &sig);
  }
  d.StopAll();

  std::printf("\nchaos report (seed %llu, %s)\n", static_cast<unsigned long long>(o.seed),
              persistence::DisplayUrl(o.db).c_str());
  std::printf(
      "checkouts: %d started, %zu accepted (202), %d found their cart sold out, %d "
      "given up by their client\n",
      traffic.started(), checkouts.size(), traffic.sold_out(), traffic.given_up());
  for (const auto& [status, n] : outcomes) std::printf("  %-16s %d\n", status.c_str(), n);
  std::printf("faults, by process:\n");
  for (const auto& [what, n] : log.counts) std::printf("  %-26s %d\n", what.c_str(), n);
  // Recovery: a killed server answering again; the runs a killed or stopped worker
  // held moving again (a worker that held none is not counted).
  std::vector<double> servers, workers;
  for (const auto& f : log.faults) {
    if (f.recovery_s < 0) continue;
    if (f.what.find("worker") == std::string::npos) {
      servers.push_back(f.recovery_s);
    } else if (f.held > 0) {
      workers.push_back(f.recovery_s);
    }
  }
  std::printf("recovery, servers (answering again):     p50 %.2f s, max %.2f s (%zu faults)\n",
              Percentile(servers, 0.5), Percentile(servers, 1.0), servers.size());
  std::printf(
      "recovery, workers (held runs taken over): p50 %.2f s, max %.2f s (%zu faults "
      "that held runs)\n",
      Percentile(workers, 0.5), Percentile(workers, 1.0), workers.size());
  if (log.unrecovered > 0) std::printf("NOT recovered: %d faults\n", log.unrecovered);
  std::printf("settled in %.1f s%s\n", settle_s, settled ? "" : " (NOT settled: gave up waiting)");
  if (!report.ok()) {
    std::printf("audit: could not run: %s\n", report.status().ToString().c_str());
    return kExitFailure;
  }
  for (const auto& v : report->violations) std::printf("%s\n", audit::ToString(v).c_str());
  std::printf("audit: %zu violation%s (%lld orders, %lld payment intents)\n",
              report->violations.size(), report->violations.size() == 1 ? "" : "s",
              static_cast<long long>(report->orders), static_cast<long long>(report->intents));
  const bool clean = report->violations.empty() && settled && log.unrecovered == 0;
  return clean ? kExitOk : kExitFailure;
}

}  // namespace keel::cli
