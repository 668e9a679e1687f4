// keel bench http: the peer workload through the engine API, as a client of Restate's
// ingress or DBOS's HTTP endpoint sees it. The whole of `keel serve` runs in this
// process; C clients each start a DemoSaga with `POST /v1/workflows?wait=60` over
// loopback and count it when the answer says completed. Latency is from the POST to
// that answer.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/bench_util.h"
#include "cli/commands.h"
#include "cli/shop_stack.h"
#include "common/ids.h"
#include "common/temp_dir.h"
#include "http/client.h"

namespace keel::cli {
namespace {

struct HttpBenchFlags {
  std::string db;
  int sagas = 2000;
  int concurrency = 32;
  int activities = 4;
};

HttpBenchFlags& F() {
  static HttpBenchFlags f;
  return f;
}

int RunBenchHttp() {
  const HttpBenchFlags& f = F();
  std::optional<TempDir> tmp;
  auto db = BenchStoreUrl(f.db, "keel-bench-http", &tmp);
  if (!db.ok()) return ReportError(db.status());
  auto sims = TempDir::Create("keel-bench-http-sims");
  if (!sims.ok()) return ReportError(sims.status());
  ShopStackOptions o;
  o.db = *db;
  o.serve = true;
  o.demo_effects = false;
  o.http = o.payments_http = o.carrier_http = "127.0.0.1:0";
  o.http_threads = 8;
  o.server.access_log = false;
  o.sim_data = sims->path();
  o.admin_token = NewRandomUuid();
  o.waits.max_per_owner = std::max(64, f.concurrency);
  o.limits.address_reads = o.limits.address_writes = {1e6, 2e6};
  auto stack = ShopStack::Start(o);
  if (!stack.ok()) return ReportError(stack.status());
  auto api = http::ParseHttpUrl((*stack)->api_url()).value();

  const std::string prefix = "http-bench-" + NewRandomUuid().substr(0, 8);
  const std::string input = R"({"steps":)" + std::to_string(f.activities) + "}";
  std::atomic<int> next{0}, completed{0}, failed{0};
  std::mutex mu;
  std::vector<double> latencies;
  std::string first_error;
  auto client = [&] {
    for (int i = next++; i < f.sagas; i = next++) {
      const std::string body = R"({"type":"DemoSaga","workflow_id":")" + prefix + "-" +
                               std::to_string(i) + R"(","input":)" + input + "}";
      const auto t0 = std::chrono::steady_clock::now();
      auto r = http::HttpCall(
          api, "POST", "/v1/workflows?wait=60", body,
          {{"Authorization", "Bearer " + o.admin_token}, {"Content-Type", "application/json"}},
          {.connect_timeout_ms = 5000, .timeout_ms = 90'000});
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      const bool ok = r.ok() && r->status == 200 &&
                      r->body.find(R"("status":"completed")") != std::string::npos;
      std::lock_guard<std::mutex> l(mu);
      if (ok) {
        ++completed;
        latencies.push_back(ms);
      } else {
        ++failed;
        if (first_error.empty()) {
          first_error = r.ok() ? std::to_string(r->status) + " " + r->body.substr(0, 300)
                               : r.status().ToString();
        }
      }
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < f.concurrency; ++c) threads.emplace_back(client);
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  (*stack)->Stop();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) { return Percentile(latencies, p); };
  if (!first_error.empty()) std::cerr << "first failure: " << first_error << "\n";
  std::printf("sagas=%d seconds=%.3f sagas_per_s=%.1f p50_ms=%.2f p99_ms=%.2f via=http failed=%d\n",
              completed.load(), seconds, completed.load() / seconds, pct(0.5), pct(0.99),
              failed.load());
  return failed.load() == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void AddHttpBench(CLI::App* bench, CliState& state) {
  auto* cmd = bench->add_subcommand(
      "http", "bench engine's workload started and awaited over HTTP (POST /v1/workflows?wait=)");
  cmd->add_option("--db", F().db, "store URL (default: a fresh temporary SQLite dir)")
      ->envname("KEEL_DB");
  cmd->add_option("--sagas", F().sagas, "how many sagas")->check(CLI::Range(1, 10'000'000));
  cmd->add_option("--concurrency", F().concurrency, "clients, each with one saga in flight")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--activities", F().activities, "activities per saga")
      ->check(CLI::Range(0, 1000));
  cmd->callback([&state] { state.action = RunBenchHttp; });
}

}  // namespace keel::cli
