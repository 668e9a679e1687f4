#include "cli/cli.h"

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "commerce/shop.h"
#include "engine/engine.h"
#include "examples/demo_saga.h"
#include "http/router.h"
#include "http/server.h"
#include "http/storefront_api.h"
#include "persistence/open_store.h"
#include "persistence/sqlite/sqlite_store.h"
#include "sims/carrier/carrier_sim.h"
#include "sims/payments/payments_sim.h"
#include "workflows/commerce_workflows.h"

namespace keel::cli {

int ReportError(const Status& s) {
  std::cerr << "error: " << s.reason() << ": " << s.message() << "\n";
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitFailure;
  }
}

Result<std::unique_ptr<persistence::Store>> OpenDb(const std::string& url,
                                                   Millis connect_retry_ms) {
  persistence::OpenOptions o;
  o.connect_retry_ms = connect_retry_ms;
  return persistence::OpenStore(url, o);
}

void RegisterAll(Registry& registry, const std::string& db_url, bool run_activities,
                 const activities::CommerceDeps* commerce) {
  static std::unique_ptr<examples::EffectLog> log;
  if (run_activities && !log) {
    auto opened = examples::OpenEffectLog(db_url);
    if (opened.ok()) {
      log = std::move(opened).value();
    } else {
      spdlog::warn("demo effect log unavailable: {}", opened.status().ToString());
    }
  }
  examples::RegisterDemo(registry, log.get());
  workflows::RegisterCommerceWorkflows(registry);
  if (commerce) activities::RegisterCommerceActivities(registry, commerce);
}

namespace {

// Blocks SIGINT/SIGTERM in every thread, then waits for one of them.
void BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}
int WaitForStopSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

std::set<std::string> SplitQueues(const std::string& s) {
  std::set<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string q = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!q.empty()) out.insert(q);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

struct WorkerFlags {
  std::string db = "sqlite:./keel-data";
  std::string queues;
  bool workflows = false;
  bool no_workers = false;  // serve only: engine services (timers) without task threads
  int concurrency = 16;
  int workflow_threads = 2;
  int connect_retry_ms = 60'000;
  // Where activities reach the outside world (embedded simulators when serving).
  std::string payments_url, carrier_url;
  // serve only: the HTTP API and the embedded simulators.
  std::string http = "127.0.0.1:8080";
  int http_threads = 16;
  int seed_demo = 300;
  std::string payments_http = "127.0.0.1:8081", carrier_http = "127.0.0.1:8082";
  std::string webhook_secret;  // shared with external simulators
  std::string sim_data;        // the embedded simulators' ledgers
  int64_t payment_window_ms = workflows::kDefaultPaymentWindowMs;
  double carrier_speed = 1.0;
};

constexpr const char* kDefaultPaymentsUrl = "http://127.0.0.1:8081";
constexpr const char* kDefaultCarrierUrl = "http://127.0.0.1:8082";

// A simulator embedded in `keel serve`, on its own port.
struct EmbeddedSims {
  std::unique_ptr<sims::PaymentsSim> payments;
  std::unique_ptr<sims::CarrierSim> carrier;
  http::Router payments_router, carrier_router;
  std::unique_ptr<http::HttpServer> payments_server, carrier_server;
  std::string payments_url, carrier_url;

  void Stop() {
    if (payments_server) payments_server->Stop(500);
    if (carrier_server) carrier_server->Stop(500);
    if (payments) payments->Stop();
    if (carrier) carrier->Stop();
  }
};

Result<std::unique_ptr<http::HttpServer>> ServeRouter(const std::string& host_port,
                                                      http::Router* router, int threads) {
  KEEL_ASSIGN_OR_RETURN(auto hp, http::ParseHostPort(host_port));
  http::ServerOptions ho;
  ho.host = hp.first;
  ho.port = hp.second;
  ho.threads = threads;
  auto server = std::make_unique<http::HttpServer>(
      ho, [router](const http::Request& req, const http::RequestInfo& info) {
        return router->Handle(req, info);
      });
  KEEL_RETURN_IF_ERROR(server->Start());
  return server;
}

// The embedded simulators' ledger directory: beside a sqlite: store, else ./keel-sim-data.
std::string SimDataDir(const WorkerFlags& f) {
  if (!f.sim_data.empty()) return f.sim_data;
  if (f.db.rfind("sqlite:", 0) == 0) return f.db.substr(7);
  return "./keel-sim-data";
}

Result<std::unique_ptr<EmbeddedSims>> StartSims(const WorkerFlags& f, Clock* clock) {
  auto sims = std::make_unique<EmbeddedSims>();
  const std::string dir = "sqlite:" + SimDataDir(f);
  if (f.payments_url.empty()) {
    KEEL_ASSIGN_OR_RETURN(auto ledger, persistence::OpenSqlDatabase(dir, "payments_sim", {}));
    sims::PaymentsSimOptions o;
    o.webhook_secret = f.webhook_secret;
    KEEL_ASSIGN_OR_RETURN(sims->payments, sims::PaymentsSim::Open(std::move(ledger), clock, o));
    sims->payments->AddRoutes(sims->payments_router);
    KEEL_ASSIGN_OR_RETURN(sims->payments_server,
                          ServeRouter(f.payments_http, &sims->payments_router, 4));
    sims->payments->Start();
    sims->payments_url = "http://" + http::ParseHostPort(f.payments_http)->first + ":" +
                         std::to_string(sims->payments_server->port());
  } else {
    sims->payments_url = f.payments_url;
  }
  if (f.carrier_url.empty()) {
    KEEL_ASSIGN_OR_RETURN(auto ledger, persistence::OpenSqlDatabase(dir, "carrier_sim", {}));
    sims::CarrierSimOptions o;
    o.webhook_secret = f.webhook_secret;
    o.faults.speed = f.carrier_speed;
    KEEL_ASSIGN_OR_RETURN(sims->carrier, sims::CarrierSim::Open(std::move(ledger), clock, o));
    sims->carrier->AddRoutes(sims->carrier_router);
    KEEL_ASSIGN_OR_RETURN(sims->carrier_server,
                          ServeRouter(f.carrier_http, &sims->carrier_router, 2));
    sims->carrier->Start();
    sims->carrier_url = "http://" + http::ParseHostPort(f.carrier_http)->first + ":" +
                        std::to_string(sims->carrier_server->port());
  } else {
    sims->carrier_url = f.carrier_url;
  }
  return sims;
}

// The HTTP API of `keel serve`: the storefront with checkout, health and readiness.
struct ApiProcess {
  std::unique_ptr<http::StorefrontApi> storefront;
  http::Router router;
  std::unique_ptr<http::HttpServer> server;
};

Result<std::unique_ptr<ApiProcess>> StartApi(const WorkerFlags& f, commerce::Shop* shop,
                                             http::CheckoutConfig checkout) {
  auto api = std::make_unique<ApiProcess>();
  if (const char* pw = std::getenv("KEEL_ADMIN_PASSWORD"); pw && *pw) {
    KEEL_RETURN_IF_ERROR(shop->users().EnsureAdmin("admin@keel.local", pw));
  }
  if (f.seed_demo > 0) {
    KEEL_ASSIGN_OR_RETURN(int64_t seeded, commerce::SeedDemoCatalog(*shop, f.seed_demo));
    if (seeded > 0) spdlog::info("seeded a demo catalog of {} items", seeded);
  }
  api->storefront =
      std::make_unique<http::StorefrontApi>(shop, http::StorefrontOptions{}, std::move(checkout));
  api->storefront->AddRoutes(api->router);
  api->router.Add(http::bhttp::verb::get, "/healthz", [](const http::ApiRequest&) {
    return http::JsonResponse(200, json::object{{"status", "ok"}});
  });
  api->router.Add(http::bhttp::verb::get, "/readyz", [shop](const http::ApiRequest&) {
    auto n = shop->catalog().Count();
    if (!n.ok()) return http::StatusResponse(n.status());
    return http::JsonResponse(200, json::object{{"status", "ready"}});
  });
  KEEL_ASSIGN_OR_RETURN(api->server, ServeRouter(f.http, &api->router, f.http_threads));
  return api;
}

int RunWorker(const WorkerFlags& f, bool serve) {
  BlockStopSignals();
  if (serve && (!f.payments_url.empty() || !f.carrier_url.empty()) && f.webhook_secret.empty()) {
    std::cerr << "error: --webhook-secret is required with --payments-url or --carrier-url: the "
                 "shop must verify the external simulators' webhooks (start them with the same "
                 "--webhook-secret)\n";
    return kExitUsage;
  }
  auto store = OpenDb(f.db, f.connect_retry_ms);
  if (!store.ok()) return ReportError(store.status());
  Clock* clock = SystemClock::Default();
  commerce::ShopOptions so;
  so.connect_retry_ms = f.connect_retry_ms;
  auto shop = commerce::Shop::Open(f.db, clock, so);
  if (!shop.ok()) return ReportError(shop.status());
  std::unique_ptr<EmbeddedSims> sims;
  activities::CommerceDeps deps;
  deps.shop = shop->get();
  deps.payments_url = f.payments_url.empty() ? kDefaultPaymentsUrl : f.payments_url;
  deps.carrier_url = f.carrier_url.empty() ? kDefaultCarrierUrl : f.carrier_url;
  if (serve) {
    auto started = StartSims(f, clock);
    if (!started.ok()) return ReportError(started.status());
    sims = std::move(started).value();
    deps.payments_url = sims->payments_url;
    deps.carrier_url = sims->carrier_url;
  }
  Registry registry;
  RegisterAll(registry, f.db, /*run_activities=*/true, &deps);
  EngineOptions o;
  std::set<std::string> queues = SplitQueues(f.queues);
  bool only_workflows = f.workflows && queues.empty();
  bool only_activities = !f.workflows && !queues.empty();
  o.run_workflows = !only_activities && !f.no_workers;
  o.run_activities = !only_workflows && !f.no_workers;
  o.activity_queues = queues;
  if (f.workflows && !queues.empty()) o.workflow_queues = {};
  o.activity_threads = f.concurrency;
  o.workflow_threads = f.workflow_threads;
  Engine engine(store->get(), &registry, o);
  deps.history = &engine.history();
  engine.Start();
  std::unique_ptr<ApiProcess> api;
  if (serve) {
    http::CheckoutConfig cc;
    cc.history = &engine.history();
    cc.payment_window_ms = f.payment_window_ms;
    cc.payments_webhook_secret =
        sims->payments ? sims->payments->webhook_secret() : f.webhook_secret;
    cc.carrier_webhook_secret = sims->carrier ? sims->carrier->webhook_secret() : f.webhook_secret;
    auto started = StartApi(f, shop->get(), cc);
    if (!started.ok()) {
      sims->Stop();
      engine.Stop();
      return ReportError(started.status());
    }
    api = std::move(started).value();
    (*shop)->StartBackground();
    const std::string base =
        "http://" + http::ParseHostPort(f.http)->first + ":" + std::to_string(api->server->port());
    if (sims->payments) sims->payments->SetWebhookUrl(base + "/webhooks/payments");
    if (sims->carrier) sims->carrier->SetWebhookUrl(base + "/webhooks/carrier");
  }
  spdlog::info("keel {} up: db={} identity={} workflows={} activities={} payments={} carrier={}",
               serve ? "serve" : "worker", persistence::DisplayUrl(f.db), engine.identity(),
               o.run_workflows, o.run_activities, deps.payments_url, deps.carrier_url);
  if (serve) {
    const std::string base =
        "http://" + http::ParseHostPort(f.http)->first + ":" + std::to_string(api->server->port());
    std::cout << "Keel API on " << base << "  (try GET /items?term=lamp, GET /healthz)\n"
              << "Payment gateway: " << deps.payments_url << "   Carrier: " << deps.carrier_url
              << "\n"
              << "Keel engine running on " << persistence::DisplayUrl(f.db)
              << (f.no_workers ? " (no workers: run `keel worker` processes).\n"
                               : " (workers in process).\n")
              << "Place a first order: see README.md, \"Place an order\".\n"
              << "Ctrl-C stops it.\n"
              << std::flush;
  }
  int sig = WaitForStopSignal();
  spdlog::info("signal {}: stopping", sig);
  if (api) api->server->Stop();  // drain requests in progress first
  (*shop)->StopBackground();
  engine.Stop();
  if (sims) sims->Stop();
  return kExitOk;
}

void AddWorkerFlags(CLI::App* cmd, WorkerFlags& f) {
  cmd->add_option("--db", f.db, "sqlite:DIR or postgresql://...")->envname("KEEL_DB");
  cmd->add_option("--queues", f.queues, "activity task queues to serve, comma separated")
      ->envname("KEEL_QUEUES");
  cmd->add_flag("--workflows", f.workflows, "run workflow tasks")->envname("KEEL_WORKFLOWS");
  cmd->add_option("--concurrency", f.concurrency, "activity threads")
      ->check(CLI::Range(1, 1024))
      ->envname("KEEL_CONCURRENCY");
  cmd->add_option("--connect-retry-ms", f.connect_retry_ms,
                  "keep retrying an unreachable database this long at start-up")
      ->check(CLI::Range(0, 3'600'000));
  cmd->add_option("--workflow-threads", f.workflow_threads, "workflow task threads")
      ->check(CLI::Range(1, 64))
      ->envname("KEEL_WORKFLOW_THREADS");
  cmd->add_option("--payments-url", f.payments_url,
                  "the payment gateway (default: embedded in serve; http://127.0.0.1:8081 for a "
                  "worker)");
  cmd->add_option("--carrier-url", f.carrier_url,
                  "the carrier (default: embedded in serve; http://127.0.0.1:8082 for a worker)");
}

}  // namespace

void AddWorkerCommands(CLI::App& app, CliState& state) {
  static WorkerFlags worker_flags, serve_flags;
  auto* worker = app.add_subcommand("worker", "run a worker process");
  AddWorkerFlags(worker, worker_flags);
  worker->callback([&state] { state.action = [] { return RunWorker(worker_flags, false); }; });
  auto* serve =
      app.add_subcommand("serve", "run Keel in one process: HTTP API, engine and workers");
  AddWorkerFlags(serve, serve_flags);
  serve->add_option("--http", serve_flags.http, "HOST:PORT for the HTTP API")->envname("KEEL_HTTP");
  serve->add_option("--http-threads", serve_flags.http_threads, "HTTP I/O threads")
      ->check(CLI::Range(1, 64))
      ->envname("KEEL_HTTP_THREADS");
  serve
      ->add_option("--seed-demo", serve_flags.seed_demo,
                   "items of the demo catalog to create when the catalog is empty (0: none)")
      ->check(CLI::Range(0, 1'000'000))
      ->envname("KEEL_SEED_DEMO");
  serve->add_option("--payments-http", serve_flags.payments_http,
                    "HOST:PORT of the embedded payment gateway simulator");
  serve->add_option("--carrier-http", serve_flags.carrier_http,
                    "HOST:PORT of the embedded carrier simulator");
  serve->add_option("--webhook-secret", serve_flags.webhook_secret,
                    "the simulators' webhook signing secret (required with external ones)");
  serve->add_option("--sim-data", serve_flags.sim_data,
                    "directory of the embedded simulators' ledgers (default: the sqlite dir)");
  serve
      ->add_option("--payment-window-ms", serve_flags.payment_window_ms,
                   "how long an order may wait for its payment before it expires")
      ->check(CLI::Range(int64_t{1000}, int64_t{7} * 24 * 3600 * 1000));
  serve
      ->add_option("--carrier-speed", serve_flags.carrier_speed,
                   "the embedded carrier runs this many times faster than real carriers")
      ->check(CLI::Range(0.001, 1e6));
  serve->add_flag("--no-workers", serve_flags.no_workers,
                  "run no workflow or activity threads (workers run as `keel worker`)");
  serve->callback([&state] { state.action = [] { return RunWorker(serve_flags, true); }; });
}

void AddDbCommands(CLI::App& app, CliState& state) {
  static std::string db = "sqlite:./keel-data";
  auto* dbcmd = app.add_subcommand("db", "database administration");
  dbcmd->require_subcommand(1);
  auto* migrate = dbcmd->add_subcommand("migrate", "create or upgrade the schema (idempotent)");
  migrate->add_option("--db", db, "sqlite:DIR or postgresql://...")->envname("KEEL_DB");
  migrate->callback([&state] {
    state.action = [] {
      auto store = OpenDb(db);
      if (!store.ok()) return ReportError(store.status());
      auto v = (*store)->SchemaVersion();
      if (!v.ok()) return ReportError(v.status());
      std::cout << "schema at version " << *v << " (" << persistence::DisplayUrl(db) << ")\n";
      return kExitOk;
    };
  });
}

namespace {
// SPEC section 2: every flag also reads KEEL_<FLAG> (--task-queue: KEEL_TASK_QUEUE).
void AddEnvNames(CLI::App* app) {
  for (CLI::Option* opt : app->get_options()) {
    if (opt->get_lnames().empty() || !opt->get_envname().empty()) continue;
    std::string env = "KEEL_" + opt->get_lnames().front();
    for (char& c : env) c = c == '-' ? '_' : static_cast<char>(std::toupper(c));
    if (env == "KEEL_HELP") continue;
    opt->envname(env);
  }
  for (CLI::App* sub : app->get_subcommands({})) AddEnvNames(sub);
}
}  // namespace

int RunCli(int argc, char** argv) {
  // Logs go to stderr: stdout carries command output (tables, JSON) for scripts.
  spdlog::set_default_logger(spdlog::stderr_color_mt("keel"));
  CLI::App app{"keel: durable workflows for commerce"};
  app.require_subcommand(1);
  CliState state;
  AddWorkerCommands(app, state);
  AddWorkflowCommands(app, state);
  AddBenchCommands(app, state);
  AddDbCommands(app, state);
  AddSimCommands(app, state);
  AddEnvNames(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\n";
    std::cerr << "usage: keel <command> [options]; run 'keel --help' or 'keel <command> --help'\n";
    return kExitUsage;
  }
  if (!state.action) {
    std::cerr << "usage: keel <command> [options]; run 'keel --help'\n";
    return kExitUsage;
  }
  return state.action();
}

}  // namespace keel::cli
