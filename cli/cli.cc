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

void RegisterAll(Registry& registry, const std::string& db_url, bool run_activities) {
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
  // serve only: the HTTP API.
  std::string http = "127.0.0.1:8080";
  int http_threads = 4;
  int seed_demo = 300;
};

// The HTTP API of `keel serve`: the storefront, health and readiness.
struct ApiProcess {
  std::unique_ptr<commerce::Shop> shop;
  std::unique_ptr<http::StorefrontApi> storefront;
  http::Router router;
  std::unique_ptr<http::HttpServer> server;
};

Result<std::unique_ptr<ApiProcess>> StartApi(const WorkerFlags& f, Clock* clock) {
  auto api = std::make_unique<ApiProcess>();
  KEEL_ASSIGN_OR_RETURN(auto hp, http::ParseHostPort(f.http));
  commerce::ShopOptions so;
  so.connect_retry_ms = f.connect_retry_ms;
  KEEL_ASSIGN_OR_RETURN(api->shop, commerce::Shop::Open(f.db, clock, so));
  if (const char* pw = std::getenv("KEEL_ADMIN_PASSWORD"); pw && *pw) {
    KEEL_RETURN_IF_ERROR(api->shop->users().EnsureAdmin("admin@keel.local", pw));
  }
  if (f.seed_demo > 0) {
    KEEL_ASSIGN_OR_RETURN(int64_t seeded, commerce::SeedDemoCatalog(*api->shop, f.seed_demo));
    if (seeded > 0) spdlog::info("seeded a demo catalog of {} items", seeded);
  }
  api->shop->StartBackground();
  api->storefront = std::make_unique<http::StorefrontApi>(api->shop.get());
  api->storefront->AddRoutes(api->router);
  commerce::Shop* shop = api->shop.get();
  api->router.Add(http::bhttp::verb::get, "/healthz", [](const http::ApiRequest&) {
    return http::JsonResponse(200, json::object{{"status", "ok"}});
  });
  api->router.Add(http::bhttp::verb::get, "/readyz", [shop](const http::ApiRequest&) {
    auto n = shop->catalog().Count();
    if (!n.ok()) return http::StatusResponse(n.status());
    return http::JsonResponse(200, json::object{{"status", "ready"}});
  });
  http::ServerOptions ho;
  ho.host = hp.first;
  ho.port = hp.second;
  ho.threads = f.http_threads;
  http::Router* router = &api->router;
  api->server = std::make_unique<http::HttpServer>(
      ho, [router](const http::Request& req, const http::RequestInfo& info) {
        return router->Handle(req, info);
      });
  KEEL_RETURN_IF_ERROR(api->server->Start());
  return api;
}

int RunWorker(const WorkerFlags& f, bool serve) {
  BlockStopSignals();
  auto store = OpenDb(f.db, f.connect_retry_ms);
  if (!store.ok()) return ReportError(store.status());
  Registry registry;
  RegisterAll(registry, f.db, /*run_activities=*/true);
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
  engine.Start();
  std::unique_ptr<ApiProcess> api;
  if (serve) {
    auto started = StartApi(f, SystemClock::Default());
    if (!started.ok()) {
      engine.Stop();
      return ReportError(started.status());
    }
    api = std::move(started).value();
  }
  spdlog::info("keel {} up: db={} identity={} workflows={} activities={}",
               serve ? "serve" : "worker", persistence::DisplayUrl(f.db), engine.identity(),
               o.run_workflows, o.run_activities);
  if (serve) {
    std::cout << "Keel API on http://" << http::ParseHostPort(f.http)->first << ":"
              << api->server->port() << "  (try GET /items?term=lamp, GET /healthz)\n"
              << "Keel engine running on " << persistence::DisplayUrl(f.db)
              << (f.no_workers ? " (no workers: run `keel worker` processes).\n"
                               : " (workers in process).\n")
              << "Start a saga:  build/keel workflow start --type DemoSaga --id demo-1 "
                 "--input '{\"steps\":3,\"fail_at\":0,\"activity_ms\":100}' --db "
              << f.db << "\n"
              << "Look at it:    build/keel workflow describe demo-1 --db " << f.db << "\n"
              << "Ctrl-C stops it.\n"
              << std::flush;
  }
  int sig = WaitForStopSignal();
  spdlog::info("signal {}: stopping", sig);
  if (api) {
    api->server->Stop();  // drain requests in progress first
    api->shop->StopBackground();
  }
  engine.Stop();
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
