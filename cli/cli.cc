#include "cli/cli.h"

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/secrets.h"
#include "cli/shop_stack.h"
#include "commerce/shop.h"
#include "common/ids.h"
#include "common/logging.h"
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

// "90s", "30m", "24h", "2d", "500ms" or a bare number of milliseconds, up to 365 days.
Result<Millis> ParseDuration(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string unit = text.substr(digits);
  const std::map<std::string, Millis> units{{"", 1},       {"ms", 1},        {"s", 1000},
                                            {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  auto u = units.find(unit);
  if (digits == 0 || digits > 12 || u == units.end()) {
    return Status::InvalidArgument("'" + text + "' is not a duration such as 90s, 30m, 24h or 2d");
  }
  const Millis ms = std::stoll(text.substr(0, digits)) * u->second;
  if (ms > 365LL * 86'400'000) return Status::InvalidArgument("'" + text + "' is over 365 days");
  return ms;
}

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
  std::string identity;  // the lease owner name; default host-pid-random
  double retention_days = 30;
  int connect_retry_ms = 60'000;
  // Where activities reach the outside world (embedded simulators when serving).
  std::string payments_url, carrier_url;
  // serve only: the HTTP API and the embedded simulators.
  std::string http = "127.0.0.1:8080";
  int http_threads = 16;
  int seed_demo = 300;
  std::string charges;  // a JSON file of tax and shipping tables
  std::string payments_http = "127.0.0.1:8081", carrier_http = "127.0.0.1:8082";
  SecretFlag webhook_secret;  // shared with external simulators
  std::string sim_data;       // the embedded simulators' ledgers
  int64_t payment_window_ms = workflows::kDefaultPaymentWindowMs;
  int64_t action_window_ms = 0;
  double carrier_speed = 1.0;
  SecretFlag admin_token, sim_control_token;
  bool no_demo_effects = false;
  // serve only: connections, rate limits, long-polls, per-buyer caps, retention.
  http::ServerOptions server;
  std::string trusted_proxies;
  bool no_access_log = false;
  double address_read_rate = 1000, address_write_rate = 200;
  double account_read_rate = 100, account_write_rate = 20;
  double auth_address_rate = 5;
  int max_waiters = 4096, max_waiters_per_user = 64, max_wait_s = 60;
  int64_t max_held_units_per_buyer = 100, max_pending_orders_per_buyer = 5;
  double guest_cart_ttl_days = 30;
  std::string cart_reminder_after = "24h";  // a duration (ParseDuration); 0: no reminders
  double hot_sku_admissions = 100;          // per second per hot SKU; 0: no gate
};

// A token bucket whose burst is twice its rate (0: unlimited).
http::RateLimit PerSecond(double rate) { return {rate, 2 * rate}; }

// The engine API's token for `keel serve` when none is given: kept in a file (0600)
// so it survives restarts and is never printed or logged: `admin-token` in the sqlite
// data dir, or ./keel-admin-token beside a PostgreSQL shop. Returns the file.
Result<std::string> DefaultAdminToken(const std::string& db, std::string* token) {
  const std::string dir = db.rfind("sqlite:", 0) == 0 ? db.substr(7) : ".";
  std::filesystem::create_directories(dir);
  const std::string path =
      (std::filesystem::path(dir) / (dir == "." ? "keel-admin-token" : "admin-token")).string();
  {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line) && line.size() >= 32) {
      *token = line;
      return path;
    }
  }
  *token = NewSecretHex(32);
  std::ofstream out(path, std::ios::trunc);
  out << *token << "\n";
  out.close();
  if (!out) return Status::Unavailable("cannot write " + path, "io_error");
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return path;
}

int RunWorker(const WorkerFlags& f, bool serve) {
  BlockStopSignals();
  auto webhook_secret = ResolveSecret(f.webhook_secret, "webhook-secret");
  auto admin_token = ResolveSecret(f.admin_token, "admin-token");
  auto control_token = ResolveSecret(f.sim_control_token, "sim-control-token");
  auto proxies = http::TrustedProxies::Parse(f.trusted_proxies);
  for (const Status* st : {&webhook_secret.status(), &admin_token.status(), &control_token.status(),
                           &proxies.status()}) {
    if (!st->ok()) {
      std::cerr << "error: " << st->message() << "\n";
      return kExitUsage;
    }
  }
  ShopStackOptions o;
  o.db = f.db;
  o.connect_retry_ms = f.connect_retry_ms;
  o.payments_url = f.payments_url;
  o.carrier_url = f.carrier_url;
  o.serve = serve;
  o.http = f.http;
  o.http_threads = f.http_threads;
  o.seed_demo = f.seed_demo;
  o.charges_file = f.charges;
  o.payments_http = f.payments_http;
  o.carrier_http = f.carrier_http;
  o.webhook_secret = *webhook_secret;
  o.sim_data = f.sim_data;
  o.payment_window_ms = f.payment_window_ms;
  o.action_window_ms = f.action_window_ms;
  o.cart_reminder_after_ms = ParseDuration(f.cart_reminder_after).value();  // checked by CLI11
  o.admission.per_s = o.admission.burst = f.hot_sku_admissions;
  o.carrier_speed = f.carrier_speed;
  o.admin_token = *admin_token;
  o.sim_control_token = *control_token;
  o.demo_effects = !f.no_demo_effects;
  o.server = f.server;
  o.server.trusted_proxies = *proxies;
  o.server.access_log = !f.no_access_log;
  o.limits.address_reads = PerSecond(f.address_read_rate);
  o.limits.address_writes = PerSecond(f.address_write_rate);
  o.limits.account_reads = PerSecond(f.account_read_rate);
  o.limits.account_writes = PerSecond(f.account_write_rate);
  o.auth_per_address = {f.auth_address_rate, 4 * f.auth_address_rate};
  o.waits.max_total = f.max_waiters;
  o.waits.max_per_owner = f.max_waiters_per_user;
  o.max_wait_s = f.max_wait_s;
  o.max_held_units_per_buyer = f.max_held_units_per_buyer;
  o.max_pending_orders_per_buyer = f.max_pending_orders_per_buyer;
  o.guest_cart_idle_ms = static_cast<Millis>(f.guest_cart_ttl_days * 24 * 3600 * 1000);
  const bool chose_token = !o.admin_token.empty();
  std::string token_at;  // the file a default admin token is kept in
  if (serve && !chose_token) {
    auto at = DefaultAdminToken(f.db, &o.admin_token);
    if (!at.ok()) return ReportError(at.status());
    token_at = *at;
  }
  EngineOptions& e = o.engine;
  std::set<std::string> queues = SplitQueues(f.queues);
  bool only_workflows = f.workflows && queues.empty();
  bool only_activities = !f.workflows && !queues.empty();
  e.run_workflows = !only_activities && !f.no_workers;
  e.run_activities = !only_workflows && !f.no_workers;
  e.activity_queues = queues;
  e.activity_threads = f.concurrency;
  e.identity = f.identity;
  e.workflow_threads = f.workflow_threads;
  e.retention_ms = static_cast<Millis>(f.retention_days * 24 * 3600 * 1000);
  auto stack = ShopStack::Start(o);
  if (!stack.ok()) {
    if (stack.status().reason() == "usage") {
      std::cerr << "error: " << stack.status().message() << "\n";
      return kExitUsage;
    }
    return ReportError(stack.status());
  }
  ShopStack& s = **stack;
  spdlog::info("keel {} up: db={} identity={} workflows={} activities={} payments={} carrier={}",
               serve ? "serve" : "worker", persistence::DisplayUrl(f.db), s.engine().identity(),
               e.run_workflows, e.run_activities, s.payments_url(), s.carrier_url());
  if (serve) {
    std::cout << "Keel API on " << s.api_url() << "  (try GET /items?term=lamp, GET /healthz)\n"
              << "Payment gateway: " << s.payments_url() << "   Carrier: " << s.carrier_url()
              << "\n"
              << "Keel engine running on " << persistence::DisplayUrl(f.db)
              << (f.no_workers ? " (no workers: run `keel worker` processes).\n"
                               : " (workers in process).\n")
              << "Place a first order (pm_card_visa succeeds; see README.md for more):\n"
              << "  B=" << s.api_url() << "\n"
              << "  curl -s -XPOST $B/auth/register -d "
                 "'{\"email\":\"ann@example.com\",\"password\":\"correct horse\"}'\n"
              << "  T=$(curl -s -XPOST $B/auth/login -d "
                 "'{\"email\":\"ann@example.com\",\"password\":\"correct horse\"}' | sed "
                 "'s/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')\n"
              << "  curl -s -XPATCH $B/cart -H \"Authorization: Bearer $T\" -d "
                 "'{\"itemId\":\"item-1\",\"quantity\":1}'   # note the cart's \"total\"\n"
              << "  curl -s -XPOST \"$B/checkout?wait=10\" -H \"Authorization: Bearer $T\" -H "
                 "'Idempotency-Key: order-1' -d '{\"amount\":TOTAL,\"paymentInfo\":{"
                 "\"paymentType\":\"CARD\",\"paymentMethod\":\"pm_card_visa\"},"
                 "\"shippingAddress\":{\"name\":\"Ann\",\"line1\":\"1 Main St\",\"city\":"
                 "\"Springfield\",\"postal_code\":\"12345\",\"country\":\"US\"}}'\n"
              << "  curl -s $B/orders -H \"Authorization: Bearer $T\"\n"
              << "Engine API (/v1, keel workflow --address " << s.api_url()
              << "): Authorization: Bearer "
              << (chose_token ? std::string("<your --admin-token>")
                              : "<the token in " + token_at + ">")
              << "\n"
              << "Ctrl-C stops it.\n"
              << std::flush;
  }
  int sig = WaitForStopSignal();
  spdlog::info("signal {}: stopping", sig);
  s.Stop();
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
  cmd->add_option("--identity", f.identity,
                  "this process's name as a lease owner (default: host-pid-random)");
  cmd->add_option("--workflow-threads", f.workflow_threads, "workflow task threads")
      ->check(CLI::Range(1, 64))
      ->envname("KEEL_WORKFLOW_THREADS");
  cmd->add_option("--retention-days", f.retention_days,
                  "delete closed workflows (and their histories) this long after they close; 0 "
                  "keeps them")
      ->check(CLI::Range(0.0, 3650.0))
      ->envname("KEEL_RETENTION_DAYS");
  cmd->add_option("--payments-url", f.payments_url,
                  "the payment gateway (default: embedded in serve; http://127.0.0.1:8081 for a "
                  "worker)");
  cmd->add_option("--carrier-url", f.carrier_url,
                  "the carrier (default: embedded in serve; http://127.0.0.1:8082 for a worker)");
  cmd->add_flag("--no-demo-effects", f.no_demo_effects,
                "DemoSaga's activities are no-ops and record no effects (as in keel bench engine)");
}

// `keel serve`'s limits (docs/security.md lists each with its default).
void AddServeLimitFlags(CLI::App* serve, WorkerFlags& f) {
  auto ms = CLI::Range(int64_t{100}, int64_t{3'600'000});
  serve
      ->add_option("--idle-timeout-ms", f.server.idle_timeout_ms,
                   "close a keep-alive connection idle this long")
      ->check(ms);
  serve
      ->add_option("--header-timeout-ms", f.server.header_timeout_ms,
                   "a request's header must arrive within this")
      ->check(ms);
  serve
      ->add_option("--body-timeout-ms", f.server.body_timeout_ms,
                   "a request's body must arrive within this")
      ->check(ms);
  serve->add_option("--max-body-bytes", f.server.max_body_bytes, "larger request bodies get 413")
      ->check(CLI::Range(size_t{1024}, size_t{64} << 20));
  serve->add_option("--max-connections", f.server.max_connections, "open connections in all")
      ->check(CLI::Range(1, 1'000'000));
  serve
      ->add_option("--max-connections-per-address", f.server.max_connections_per_address,
                   "open connections per client address")
      ->check(CLI::Range(1, 1'000'000));
  serve->add_option("--trusted-proxies", f.trusted_proxies,
                    "addresses or CIDR blocks whose X-Forwarded-For is believed (comma separated)");
  serve->add_flag("--no-access-log", f.no_access_log, "no access log line per request");
  auto rate = CLI::Range(0.0, 1e9);
  serve
      ->add_option("--address-read-rate", f.address_read_rate,
                   "reads per second per client address (burst twice that; 0: unlimited)")
      ->check(rate);
  serve
      ->add_option("--address-write-rate", f.address_write_rate,
                   "writes per second per client address (burst twice that; 0: unlimited)")
      ->check(rate);
  serve
      ->add_option("--account-read-rate", f.account_read_rate,
                   "reads per second per account (burst twice that; 0: unlimited)")
      ->check(rate);
  serve
      ->add_option("--account-write-rate", f.account_write_rate,
                   "writes per second per account (burst twice that; 0: unlimited)")
      ->check(rate);
  serve
      ->add_option("--auth-address-rate", f.auth_address_rate,
                   "sign-ups and sign-ins per second per client address (burst 4x; 0: unlimited)")
      ->check(rate);
  serve->add_option("--max-waiters", f.max_waiters, "?wait= requests parked at once, in all")
      ->check(CLI::Range(1, 1'000'000));
  serve
      ->add_option("--max-waiters-per-user", f.max_waiters_per_user,
                   "?wait= requests parked at once per account")
      ->check(CLI::Range(1, 1'000'000));
  serve->add_option("--max-wait-s", f.max_wait_s, "the longest ?wait= allowed")
      ->check(CLI::Range(1, 600));
  serve
      ->add_option("--max-held-units-per-buyer", f.max_held_units_per_buyer,
                   "units one buyer may hold in unpaid orders (0: no cap)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000}));
  serve
      ->add_option("--max-pending-orders-per-buyer", f.max_pending_orders_per_buyer,
                   "unpaid orders one buyer may have at once (0: no cap)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000}));
  serve
      ->add_option("--action-window-ms", f.action_window_ms,
                   "how long an order may wait on 3-D Secure (0: the whole payment window)")
      ->check(CLI::Range(int64_t{0}, int64_t{7} * 24 * 3600 * 1000));
  serve
      ->add_option("--guest-cart-ttl-days", f.guest_cart_ttl_days,
                   "delete guest carts untouched this long")
      ->check(CLI::Range(0.001, 3650.0));
  serve
      ->add_option("--cart-reminder-after", f.cart_reminder_after,
                   "remind a signed-in buyer of a cart left alone this long, once (90s, 30m, "
                   "24h, 2d; 0: never)")
      ->check(CLI::Validator(
          [](std::string& v) {
            auto d = ParseDuration(v);
            return d.ok() ? std::string() : d.status().message();
          },
          "DURATION"))
      ->envname("KEEL_CART_REMINDER_AFTER");
  serve
      ->add_option("--hot-sku-admissions-per-s", f.hot_sku_admissions,
                   "checkouts admitted per second per hot SKU, in arrival order; the rest get "
                   "429 with their place in line (0: no gate)")
      ->check(CLI::Range(0.0, 1e6))
      ->envname("KEEL_HOT_SKU_ADMISSIONS_PER_S");
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
  serve
      ->add_option("--charges", serve_flags.charges,
                   "a JSON file of tax and shipping tables to apply at start "
                   "(docs/cart.md; PUT /v1/charges sets them later)")
      ->check(CLI::ExistingFile)
      ->envname("KEEL_CHARGES");
  serve->add_option("--payments-http", serve_flags.payments_http,
                    "HOST:PORT of the embedded payment gateway simulator");
  serve->add_option("--carrier-http", serve_flags.carrier_http,
                    "HOST:PORT of the embedded carrier simulator");
  AddSecretOption(serve, "webhook-secret", serve_flags.webhook_secret,
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
  AddSecretOption(serve, "admin-token", serve_flags.admin_token,
                  "bearer token of the engine API (/v1); default: a random one kept in the "
                  "sqlite data dir (admin-token), or printed once on PostgreSQL");
  AddSecretOption(serve, "sim-control-token", serve_flags.sim_control_token,
                  "bearer token of the embedded simulators' /v1/sim/* routes (default: off)");
  AddServeLimitFlags(serve, serve_flags);
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
  // Files and directories Keel makes are its own: data dirs 0700, files 0600 (the
  // token-signing key, password hashes, ledgers and secrets live in them).
  umask(077);
  http::RaiseOpenFileLimit();
  // Logs go to stderr: stdout carries command output (tables, JSON) for scripts.
  spdlog::set_default_logger(spdlog::stderr_color_mt("keel"));
  CLI::App app{"keel: durable workflows for commerce"};
  app.require_subcommand(1);
  std::string log_format = "text";
  app.add_option("--log-format", log_format, "logs on stderr as text, or JSON lines")
      ->check(CLI::IsMember({"text", "json"}))
      ->envname("KEEL_LOG_FORMAT");
  CliState state;
  AddWorkerCommands(app, state);
  AddWorkflowCommands(app, state);
  AddTaskQueueCommands(app, state);
  AddBenchCommands(app, state);
  AddDbCommands(app, state);
  AddSimCommands(app, state);
  AddAuditCommand(app, state);
  AddChaosCommand(app, state);
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
  if (log_format == "json") UseJsonLogs();
  return state.action();
}

}  // namespace keel::cli
