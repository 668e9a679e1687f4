// keel sim payments: the payment-gateway simulator as its own process (SPEC 2 and 5).

#include <signal.h>
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.h"
#include "cli/secrets.h"
#include "http/server.h"
#include "sims/carrier/carrier_sim.h"
#include "sims/payments/payments_sim.h"

namespace keel::cli {
namespace {

struct PaymentsFlags {
  std::string http = "127.0.0.1:8081";
  std::string data = "./keel-sim-payments";
  std::string webhook_url;
  SecretFlag webhook_secret, control_token;
  double fail_rate = 0, decline_rate = 0, drop_response_rate = 0, duplicate_rate = 0;
  int latency_ms = 0, max_delay_ms = 0, three_ds_delay_ms = 1000;
};

// Serves `router` on `host_port` until SIGINT/SIGTERM, with `start`/`stop` around it.
int ServeUntilSignal(const std::string& host_port, http::Router& router, const std::string& banner,
                     const std::function<void()>& start, const std::function<void()>& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto hp = http::ParseHostPort(host_port);
  if (!hp.ok()) return ReportError(hp.status());
  http::ServerOptions so;
  so.host = hp->first;
  so.port = hp->second;
  http::HttpServer server(so, [&router](const http::Request& req, const http::RequestInfo& info) {
    return router.Handle(req, info);
  });
  if (Status s = server.Start(); !s.ok()) return ReportError(s);
  start();
  std::cout << banner << " on http://" << hp->first << ":" << server.port() << "\n" << std::flush;
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("signal {}: stopping", sig);
  server.Stop();
  stop();
  return kExitOk;
}

struct CarrierFlags {
  std::string http = "127.0.0.1:8082";
  std::string data = "./keel-sim-carrier";
  std::string webhook_url;
  SecretFlag webhook_secret, control_token;
  double speed = 1.0, exception_rate = 0, duplicate_rate = 0;
  int step_ms = 20'000, max_delay_ms = 0;
};

int RunCarrier(const CarrierFlags& f) {
  auto ledger = persistence::OpenSqlDatabase("sqlite:" + f.data, "carrier_sim", {});
  if (!ledger.ok()) return ReportError(ledger.status());
  sims::CarrierSimOptions o;
  o.webhook_url = f.webhook_url;
  auto secret = ResolveSecret(f.webhook_secret, "webhook-secret");
  auto control = ResolveSecret(f.control_token, "control-token");
  if (!secret.ok() || !control.ok()) {
    std::cerr << "error: " << (secret.ok() ? control : secret).status().message() << "\n";
    return kExitUsage;
  }
  o.webhook_secret = *secret;
  o.control_token = *control;
  o.faults.speed = f.speed;
  o.faults.step_ms = f.step_ms;
  o.faults.exception_rate = f.exception_rate;
  o.faults.duplicate_rate = f.duplicate_rate;
  o.faults.max_delay_ms = f.max_delay_ms;
  auto sim = sims::CarrierSim::Open(std::move(ledger).value(), SystemClock::Default(), o);
  if (!sim.ok()) return ReportError(sim.status());
  http::Router router;
  sim.value()->AddRoutes(router);
  sims::CarrierSim* c = sim.value().get();
  return ServeUntilSignal(
      f.http, router,
      "carrier simulator (ledger " + f.data + "/carrier_sim.db" +
          (f.webhook_url.empty() ? ", no webhook URL yet" : ", webhooks to " + f.webhook_url) + ")",
      [c] { c->Start(); }, [c] { c->Stop(); });
}

int RunPayments(const PaymentsFlags& f) {
  auto ledger = persistence::OpenSqlDatabase("sqlite:" + f.data, "payments_sim", {});
  if (!ledger.ok()) return ReportError(ledger.status());
  sims::PaymentsSimOptions o;
  o.webhook_url = f.webhook_url;
  auto secret = ResolveSecret(f.webhook_secret, "webhook-secret");
  auto control = ResolveSecret(f.control_token, "control-token");
  if (!secret.ok() || !control.ok()) {
    std::cerr << "error: " << (secret.ok() ? control : secret).status().message() << "\n";
    return kExitUsage;
  }
  o.webhook_secret = *secret;
  o.control_token = *control;
  o.faults.fail_rate = f.fail_rate;
  o.faults.decline_rate = f.decline_rate;
  o.faults.drop_response_rate = f.drop_response_rate;
  o.faults.duplicate_rate = f.duplicate_rate;
  o.faults.latency_ms = f.latency_ms;
  o.faults.max_delay_ms = f.max_delay_ms;
  o.faults.three_ds_delay_ms = f.three_ds_delay_ms;
  auto sim = sims::PaymentsSim::Open(std::move(ledger).value(), SystemClock::Default(), o);
  if (!sim.ok()) return ReportError(sim.status());
  http::Router router;
  sim.value()->AddRoutes(router);
  sims::PaymentsSim* p = sim.value().get();
  return ServeUntilSignal(
      f.http, router,
      "payment gateway simulator (ledger " + f.data + "/payments_sim.db" +
          (f.webhook_url.empty() ? ", no webhook URL yet" : ", webhooks to " + f.webhook_url) + ")",
      [p] { p->Start(); }, [p] { p->Stop(); });
}

}  // namespace

void AddSimCommands(CLI::App& app, CliState& state) {
  static PaymentsFlags pf;
  auto* sim = app.add_subcommand("sim", "run a simulator of the outside world");
  sim->require_subcommand(1);
  auto* pay = sim->add_subcommand("payments", "the payment-gateway simulator (SPEC section 5)");
  pay->add_option("--http", pf.http, "HOST:PORT to listen on");
  pay->add_option("--data", pf.data, "directory of its SQLite ledger");
  pay->add_option("--webhook-url", pf.webhook_url, "where to deliver signed webhooks");
  AddSecretOption(pay, "webhook-secret", pf.webhook_secret,
                  "HMAC secret for webhook signatures (default: one kept in the ledger)");
  AddSecretOption(pay, "control-token", pf.control_token,
                  "bearer token of the /v1/sim/* control routes (default: they are off)");
  auto rate = CLI::Range(0.0, 1.0);
  pay->add_option("--fail-rate", pf.fail_rate, "share of POSTs answered 500")->check(rate);
  pay->add_option("--decline-rate", pf.decline_rate, "share of good cards declined")->check(rate);
  pay->add_option("--drop-response-rate", pf.drop_response_rate,
                  "share of POSTs carried out whose reply is dropped")
      ->check(rate);
  pay->add_option("--duplicate-rate", pf.duplicate_rate, "share of webhooks delivered twice")
      ->check(rate);
  pay->add_option("--latency-ms", pf.latency_ms, "added to every reply")
      ->check(CLI::Range(0, 60'000));
  pay->add_option("--max-delay-ms", pf.max_delay_ms,
                  "each webhook waits a random 0..N ms (so they arrive out of order)")
      ->check(CLI::Range(0, 600'000));
  pay->add_option("--three-ds-delay-ms", pf.three_ds_delay_ms,
                  "when pm_card_threeDSecure completes its authentication")
      ->check(CLI::Range(1, 3'600'000));
  pay->callback([&state] { state.action = [] { return RunPayments(pf); }; });

  static CarrierFlags cf;
  auto* car = sim->add_subcommand("carrier", "the carrier simulator (SPEC section 6)");
  car->add_option("--http", cf.http, "HOST:PORT to listen on");
  car->add_option("--data", cf.data, "directory of its SQLite ledger");
  car->add_option("--webhook-url", cf.webhook_url, "where to deliver signed webhooks");
  AddSecretOption(car, "webhook-secret", cf.webhook_secret,
                  "HMAC secret for webhook signatures (default: one kept in the ledger)");
  AddSecretOption(car, "control-token", cf.control_token,
                  "bearer token of the /v1/sim/* control routes (default: they are off)");
  car->add_option("--speed", cf.speed, "tracking runs this many times faster than real carriers")
      ->check(CLI::Range(0.001, 1e6));
  car->add_option("--step-ms", cf.step_ms, "time between tracking steps at speed 1")
      ->check(CLI::Range(1, 86'400'000));
  car->add_option("--exception-rate", cf.exception_rate, "share of steps that end in exception")
      ->check(rate);
  car->add_option("--duplicate-rate", cf.duplicate_rate, "share of webhooks delivered twice")
      ->check(rate);
  car->add_option("--max-delay-ms", cf.max_delay_ms,
                  "each webhook waits a random 0..N ms (so they arrive out of order)")
      ->check(CLI::Range(0, 600'000));
  car->callback([&state] { state.action = [] { return RunCarrier(cf); }; });
}

}  // namespace keel::cli
