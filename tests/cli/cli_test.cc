// Runs the keel binary and checks its output and exit codes.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "commerce/shop.h"
#include "common/json.h"
#include "common/temp_dir.h"
#include "persistence/sql/sql_database.h"
#include "sims/payments/payments_sim.h"
#include "tests/testing/backends.h"

namespace keel {
namespace {

struct CmdResult {
  int code;
  std::string out, err;
};

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_.emplace(TempDir::Create("keel-cli").value());
    dir_ = tmp_->path();
    db_ = "sqlite:" + dir_ + "/data";
  }
  void TearDown() override {
    if (worker_ > 0) {
      kill(worker_, SIGTERM);
      waitpid(worker_, nullptr, 0);
    }
    tmp_.reset();
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // `args` is a shell fragment; quote JSON with single quotes.
  CmdResult Keel(const std::string& args) {
    std::string out = dir_ + "/out", err = dir_ + "/err";
    std::string cmd = std::string(KEEL_BINARY) + " " + args + " >" + out + " 2>" + err;
    int rc = std::system(cmd.c_str());
    return CmdResult{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, Slurp(out), Slurp(err)};
  }
  void StartWorker() {
    worker_ = fork();
    if (worker_ == 0) {
      std::string log = dir_ + "/worker.log";
      freopen(log.c_str(), "w", stdout);
      freopen(log.c_str(), "a", stderr);
      execl(KEEL_BINARY, KEEL_BINARY, "worker", "--db", db_.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  json::value DescribeUntilClosed(const std::string& id) {
    for (int i = 0; i < 300; ++i) {
      CmdResult r = Keel("workflow describe " + id + " --db " + db_ + " --output json");
      if (r.code == 0) {
        auto v = json::parse(r.out);
        if (v.at("status") != "running") return v;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return nullptr;
  }
  std::optional<TempDir> tmp_;
  std::string dir_, db_;
  pid_t worker_ = -1;
};

TEST_F(CliTest, StartDescribeListHistoryEndToEnd) {
  StartWorker();
  CmdResult start = Keel(
      "workflow start --type DemoSaga --id cli-1 --input "
      "'{\"steps\":3,\"fail_at\":2,\"activity_ms\":300}' "
      "--db " +
      db_);
  ASSERT_EQ(start.code, 0) << start.err;
  std::string run_id = start.out.substr(0, start.out.find('\n'));
  EXPECT_TRUE(std::regex_match(run_id, std::regex("[0-9a-f-]{36}"))) << start.out;

  CmdResult again =
      Keel("workflow start --type DemoSaga --id cli-1 --input '{}' --db " + db_ + " --output json");
  ASSERT_EQ(again.code, 0);
  auto a = json::parse(again.out);
  EXPECT_EQ(a.at("run_id"), json::value(run_id));
  EXPECT_EQ(a.at("started"), false);

  json::value d = DescribeUntilClosed("cli-1");
  ASSERT_FALSE(d.is_null());
  EXPECT_EQ(d.at("workflow_id"), "cli-1");
  EXPECT_EQ(d.at("run_id"), json::value(run_id));
  EXPECT_EQ(d.at("type"), "DemoSaga");
  EXPECT_EQ(d.at("status"), "completed");
  EXPECT_EQ(d.at("result"), json::parse(R"({"completed":[1],"compensated":[1]})"));
  EXPECT_TRUE(d.at("failure").is_null());

  CmdResult table = Keel("workflow describe cli-1 --db " + db_);
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("completed"), std::string::npos);

  CmdResult list = Keel("workflow list --db " + db_ + " --status completed --output json");
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(json::parse(list.out).at("workflows").as_array().size(), 1u);
  CmdResult none = Keel("workflow list --db " + db_ + " --status running --output json");
  EXPECT_EQ(json::parse(none.out).at("workflows").as_array().size(), 0u);

  CmdResult hist = Keel("workflow history cli-1 --db " + db_);
  EXPECT_EQ(hist.code, 0);
  EXPECT_NE(hist.out.find("activity_task_failed"), std::string::npos);
  EXPECT_NE(hist.out.find("workflow_execution_completed"), std::string::npos);
  // Payloads are decoded: the input and the result, as JSON.
  EXPECT_NE(hist.out.find(R"("input":{"steps":3,"fail_at":2,"activity_ms":300})"),
            std::string::npos)
      << hist.out;
  EXPECT_NE(hist.out.find(R"("result":{"completed":[1],"compensated":[1]})"), std::string::npos)
      << hist.out;
  CmdResult hjson = Keel("workflow history cli-1 --output json --db " + db_);
  ASSERT_EQ(hjson.code, 0);
  auto hv = json::parse(hjson.out);
  EXPECT_EQ(
      hv.at("events").as_array()[0].at("workflow_execution_started").at("input").at("decoded"),
      json::parse(R"({"steps":3,"fail_at":2,"activity_ms":300})"));
  // The same file replays.
  std::ofstream(dir_ + "/h.json") << hjson.out;
  CmdResult replay = Keel("workflow replay --file " + dir_ + "/h.json");
  EXPECT_EQ(replay.code, 0) << replay.out << replay.err;
}

TEST_F(CliTest, CountsByStatusAndListsByIdPrefix) {
  for (const char* id : {"pre-1", "pre-2", "other-1"}) {  // no worker: they stay running
    ASSERT_EQ(Keel(std::string("workflow start --type DemoSaga --id ") + id + " --db " + db_).code,
              0);
  }
  CmdResult all = Keel("workflow count --output json --db " + db_);
  ASSERT_EQ(all.code, 0) << all.err;
  auto counts = json::parse(all.out);
  EXPECT_EQ(counts.at("total"), 3);
  EXPECT_EQ(counts.at("by_status").at("running"), 3);
  EXPECT_EQ(counts.at("by_status").at("completed"), 0);
  CmdResult pre = Keel("workflow count --id-prefix pre- --output json --db " + db_);
  EXPECT_EQ(json::parse(pre.out).at("total"), 2) << pre.out;
  CmdResult table = Keel("workflow count --db " + db_);
  EXPECT_NE(table.out.find("total"), std::string::npos) << table.out;
  CmdResult list = Keel("workflow list --id-prefix other --output json --db " + db_);
  ASSERT_EQ(list.code, 0) << list.err;
  ASSERT_EQ(json::parse(list.out).at("workflows").as_array().size(), 1u);
  EXPECT_EQ(json::parse(list.out).at("workflows").as_array()[0].at("workflow_id"), "other-1");
}

TEST_F(CliTest, UsageErrorsExitTwoWithAUsageLine) {
  CmdResult none = Keel("");
  EXPECT_EQ(none.code, 2);
  CmdResult missing = Keel("workflow start --type DemoSaga --db " + db_);
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("--id"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("usage"), std::string::npos);
  CmdResult bogus = Keel("workflow list --bogus");
  EXPECT_EQ(bogus.code, 2);
  CmdResult status = Keel("workflow list --status sleeping --db " + db_);
  EXPECT_EQ(status.code, 2);
  EXPECT_NE(status.err.find("--status"), std::string::npos);
}

TEST_F(CliTest, BadInputIsAClearError) {
  CmdResult json = Keel("workflow start --type DemoSaga --id x --input '{not json' --db " + db_);
  EXPECT_EQ(json.code, 2);
  EXPECT_NE(json.err.find("not valid JSON"), std::string::npos) << json.err;
  CmdResult type = Keel("workflow start --type Nope --id x --db " + db_);
  EXPECT_EQ(type.code, 2);
  EXPECT_NE(type.err.find("unknown workflow type 'Nope'"), std::string::npos) << type.err;
  EXPECT_NE(type.err.find("DemoSaga"), std::string::npos);
  CmdResult unknown = Keel("workflow describe no-such-id --db " + db_);
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("workflow_not_found"), std::string::npos);
  CmdResult url = Keel("workflow list --db mysql://x");
  EXPECT_EQ(url.code, 2);
  EXPECT_NE(url.err.find("--db must be"), std::string::npos) << url.err;
}

TEST_F(CliTest, AnUnreachableDatabaseIsRetriedThenAClearError) {
  CmdResult list = Keel("workflow list --db postgresql://keel@127.0.0.1:1/keel");
  EXPECT_EQ(list.code, 1);
  EXPECT_NE(list.err.find("error: db_unreachable"), std::string::npos) << list.err;
  EXPECT_NE(list.err.find("retrying in"), std::string::npos) << "start-up retries with backoff";
  CmdResult worker =
      Keel("worker --db postgresql://keel:secret@127.0.0.1:1/keel --connect-retry-ms 700");
  EXPECT_EQ(worker.code, 1);
  EXPECT_NE(worker.err.find("db_unreachable"), std::string::npos) << worker.err;
  EXPECT_EQ(worker.err.find("secret"), std::string::npos) << "the password is never printed";
}

TEST_F(CliTest, AWrongPasswordIsAClearError) {
  if (!testutil::RequirePostgres()) return;
  std::string url = *testutil::TestPgUrl();
  auto at = url.find('@');
  auto colon = url.rfind(':', at);
  std::string wrong = url.substr(0, colon + 1) + "not-the-password" + url.substr(at);
  CmdResult r = Keel("workflow list --db '" + wrong + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("error: db_auth_failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("check the user and password"), std::string::npos);
  EXPECT_EQ(r.err.find("not-the-password"), std::string::npos);
}

TEST_F(CliTest, MigrateIsIdempotent) {
  CmdResult a = Keel("db migrate --db " + db_);
  CmdResult b = Keel("db migrate --db " + db_);
  EXPECT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

// The operator's loop on a saga stuck on an activity that always fails.
TEST_F(CliTest, AStuckSagaIsFoundDescribedAndTerminated) {
  StartWorker();
  CmdResult start = Keel(
      "workflow start --type DemoSaga --id stuck-1 --input '{\"steps\":3,\"stuck_at\":2}' "
      "--db " +
      db_);
  ASSERT_EQ(start.code, 0) << start.err;
  // Wait until step 2 has failed at least twice.
  json::value pending;
  for (int i = 0; i < 400; ++i) {
    CmdResult d = Keel("workflow describe stuck-1 --db " + db_ + " --output json");
    ASSERT_EQ(d.code, 0) << d.err;
    auto v = json::parse(d.out);
    const auto& acts = v.at("pending_activities").as_array();
    if (!acts.empty() && acts[0].at("attempt").as_int64() >= 3) {
      pending = acts[0];
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(pending.is_null()) << "the stuck activity never retried";
  EXPECT_EQ(pending.at("activity_type"), "DemoStep");
  EXPECT_NE(pending.at("last_failure").at("message").as_string().find("fails on every attempt"),
            std::string::npos);

  CmdResult running = Keel("workflow list --status running --type DemoSaga --db " + db_);
  ASSERT_EQ(running.code, 0);
  EXPECT_NE(running.out.find("stuck-1"), std::string::npos) << running.out;
  CmdResult table = Keel("workflow describe stuck-1 --db " + db_);
  EXPECT_NE(table.out.find("Pending activities"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("fails on every attempt"), std::string::npos) << table.out;
  CmdResult queue = Keel("taskqueue describe demo --db " + db_ + " --output json");
  ASSERT_EQ(queue.code, 0) << queue.err;
  auto q = json::parse(queue.out);
  ASSERT_EQ(q.at("tasks").as_array().size(), 1u);
  EXPECT_EQ(q.at("tasks").as_array()[0].at("workflow_id"), "stuck-1");
  CmdResult queues = Keel("taskqueue list --db " + db_);
  EXPECT_EQ(queues.code, 0);
  EXPECT_NE(queues.out.find("demo"), std::string::npos) << queues.out;
  // The open run replays against this binary.
  CmdResult replay = Keel("workflow replay --type DemoSaga --db " + db_);
  EXPECT_EQ(replay.code, 0) << replay.out << replay.err;
  EXPECT_NE(replay.out.find("1 replayed, 0 failed"), std::string::npos) << replay.out;

  // Reset starts a new run from the last workflow task and terminates this one.
  CmdResult bad_point = Keel("workflow reset stuck-1 --event-id 1 --db " + db_);
  EXPECT_EQ(bad_point.code, 2);
  EXPECT_NE(bad_point.err.find("reset_point_invalid"), std::string::npos) << bad_point.err;
  CmdResult before = Keel("workflow describe stuck-1 --db " + db_ + " --output json");
  std::string old_run(json::parse(before.out).at("run_id").as_string());
  CmdResult reset = Keel("workflow reset stuck-1 --reason retry --db " + db_ + " --output json");
  ASSERT_EQ(reset.code, 0) << reset.err;
  std::string new_run(json::parse(reset.out).at("run_id").as_string());
  EXPECT_NE(new_run, old_run);
  CmdResult after = Keel("workflow describe stuck-1 --db " + db_ + " --output json");
  EXPECT_EQ(json::parse(after.out).at("run_id"), json::value(new_run));
  EXPECT_EQ(json::parse(after.out).at("status"), "running");
  CmdResult old_history = Keel("workflow history stuck-1 --db " + db_);
  EXPECT_NE(old_history.out.find("workflow_task_failed"), std::string::npos) << old_history.out;

  CmdResult term = Keel("workflow terminate stuck-1 --reason 'gave up' --db " + db_);
  ASSERT_EQ(term.code, 0) << term.err;
  json::value d = DescribeUntilClosed("stuck-1");
  EXPECT_EQ(d.at("status"), "terminated");
  EXPECT_TRUE(d.at("pending_activities").as_array().empty());
  CmdResult again = Keel("workflow terminate stuck-1 --db " + db_);
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("workflow_closed"), std::string::npos) << again.err;
}

TEST_F(CliTest, ReplayChecksHistoriesFromAnEarlierBinary) {
  // Recorded by the binary before shipment tracking became a child workflow: the
  // get_version patch keeps this run on its old path.
  std::string file = std::string(KEEL_TESTDATA_DIR) + "/checkout_saga_before_child_tracking.json";
  CmdResult ok = Keel("workflow replay --file " + file);
  EXPECT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("1 replayed, 0 failed"), std::string::npos) << ok.out;
  CmdResult open = Keel("workflow replay --file " + std::string(KEEL_TESTDATA_DIR) +
                        "/checkout_saga_open_3ds.json --output json");
  EXPECT_EQ(open.code, 0) << open.out << open.err;
  // The same history with one step changed, as a careless edit of the saga would: caught.
  std::string text = Slurp(file);
  auto at = text.find("\"orders.create\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 15, "\"orders.createX\"");
  std::string changed = dir_ + "/changed.json";
  std::ofstream(changed) << text;
  CmdResult bad = Keel("workflow replay --file " + changed);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.out.find("nondeterminism"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("1 replayed, 1 failed"), std::string::npos) << bad.out;
}

TEST_F(CliTest, ReplayQueryAndTaskqueueRejectBadInput) {
  CmdResult none = Keel("workflow replay --db " + db_);
  EXPECT_EQ(none.code, 2);
  EXPECT_NE(none.err.find("exactly one of"), std::string::npos) << none.err;
  CmdResult missing = Keel("workflow replay --file " + dir_ + "/nope.json");
  EXPECT_EQ(missing.code, 1);
  std::ofstream(dir_ + "/junk.json") << "{not a history";
  CmdResult junk = Keel("workflow replay --file " + dir_ + "/junk.json");
  EXPECT_EQ(junk.code, 2);
  EXPECT_NE(junk.err.find("not a history"), std::string::npos) << junk.err;
  CmdResult unknown = Keel("workflow query no-such-id --name state --db " + db_);
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("workflow_not_found"), std::string::npos) << unknown.err;
  CmdResult args = Keel("workflow query x --name state --input '{oops' --db " + db_);
  EXPECT_EQ(args.code, 2);
  CmdResult noname = Keel("workflow query x --db " + db_);
  EXPECT_EQ(noname.code, 2);
  EXPECT_NE(noname.err.find("--name"), std::string::npos) << noname.err;
  CmdResult tq = Keel("taskqueue describe --db " + db_);
  EXPECT_EQ(tq.code, 2);
  EXPECT_NE(tq.err.find("usage"), std::string::npos) << tq.err;
  CmdResult empty = Keel("taskqueue list --db " + db_ + " --output json");
  EXPECT_EQ(empty.code, 0) << empty.err;
  EXPECT_EQ(json::parse(empty.out), json::parse(R"({"queues":[]})"));
}

// The same commands against a running `keel serve`, through its engine API.
TEST_F(CliTest, CommandsWorkAgainstARunningServer) {
  std::string log = dir_ + "/serve.log";
  worker_ = fork();
  if (worker_ == 0) {
    freopen(log.c_str(), "w", stdout);
    freopen(log.c_str(), "a", stderr);
    execl(KEEL_BINARY, KEEL_BINARY, "serve", "--db", db_.c_str(), "--http", "127.0.0.1:0",
          "--payments-http", "127.0.0.1:0", "--carrier-http", "127.0.0.1:0", "--seed-demo", "0",
          "--admin-token", "cli-token", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string address;
  std::regex banner("Keel API on (http://127\\.0\\.0\\.1:[0-9]+)");
  for (int i = 0; i < 400 && address.empty(); ++i) {
    std::smatch m;
    std::string text = Slurp(log);
    if (std::regex_search(text, m, banner)) address = m[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_FALSE(address.empty()) << Slurp(log);
  std::string at = " --address " + address + " --admin-token cli-token";

  CmdResult start =
      Keel("workflow start --type DemoSaga --id remote-1 --input '{\"steps\":2}'" + at);
  ASSERT_EQ(start.code, 0) << start.err;
  json::value d;
  for (int i = 0; i < 300; ++i) {
    CmdResult r = Keel("workflow describe remote-1 --output json" + at);
    ASSERT_EQ(r.code, 0) << r.err;
    d = json::parse(r.out);
    if (d.at("status") != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(d.at("status"), "completed");
  CmdResult list = Keel("workflow list --type DemoSaga --output json" + at);
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(json::parse(list.out).at("workflows").as_array().size(), 1u);
  CmdResult table = Keel("workflow list" + at);
  EXPECT_NE(table.out.find("remote-1"), std::string::npos) << table.out;
  CmdResult hist = Keel("workflow history remote-1" + at);
  ASSERT_EQ(hist.code, 0) << hist.err;
  EXPECT_NE(hist.out.find("workflow_execution_completed"), std::string::npos);
  CmdResult replay = Keel("workflow replay remote-1" + at);
  EXPECT_EQ(replay.code, 0) << replay.out << replay.err;
  CmdResult queues = Keel("taskqueue list --output json" + at);
  EXPECT_EQ(queues.code, 0) << queues.err;
  CmdResult queue = Keel("taskqueue describe demo --output json" + at);
  ASSERT_EQ(queue.code, 0) << queue.err;
  json::value q = json::parse(queue.out);
  EXPECT_EQ(q.at("queue"), "demo");
  EXPECT_TRUE(q.at("tasks").is_array()) << queue.out;
  CmdResult sleeping = Keel("workflow list --status sleeping" + at);
  EXPECT_EQ(sleeping.code, 2);
  EXPECT_NE(sleeping.err.find("--status"), std::string::npos) << sleeping.err;

  CmdResult unknown = Keel("workflow describe nope" + at);
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.err.find("workflow_not_found"), std::string::npos) << unknown.err;
  CmdResult closed = Keel("workflow terminate remote-1" + at);
  EXPECT_EQ(closed.code, 1);
  EXPECT_NE(closed.err.find("workflow_closed"), std::string::npos) << closed.err;
  CmdResult wrong = Keel("workflow list --address " + address + " --admin-token nope");
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("forbidden"), std::string::npos) << wrong.err;
  CmdResult no_token = Keel("workflow list --address " + address);
  EXPECT_EQ(no_token.code, 2);
  EXPECT_NE(no_token.err.find("--admin-token"), std::string::npos) << no_token.err;
  CmdResult bad_input = Keel("workflow signal remote-1 --name x --input '{oops'" + at);
  EXPECT_EQ(bad_input.code, 2);
}

// Scripts read the audit's exit code: 0 clean, 1 a violation, 2 it could not check.
TEST_F(CliTest, AuditExitsOneOnlyForAViolation) {
  CmdResult missing = Keel("audit --db sqlite:" + dir_ + "/no-such-shop");
  EXPECT_EQ(missing.code, 2);
  EXPECT_NE(missing.err.find("no shop at"), std::string::npos) << missing.err;
  {
    auto shop = commerce::Shop::Open(db_, SystemClock::Default());
    ASSERT_TRUE(shop.ok()) << shop.status().ToString();
    ASSERT_TRUE((*shop)->inventory().Restock("sku-a", 10, "r-a").ok());
    auto ledger = persistence::OpenSqlDatabase("sqlite:" + dir_ + "/ledger", "payments_sim", {});
    ASSERT_TRUE(ledger.ok());
    ASSERT_TRUE(
        sims::PaymentsSim::Open(std::move(ledger).value(), SystemClock::Default(), {}).ok());
  }
  CmdResult gone = Keel("audit --db " + db_ + " --payments-url http://127.0.0.1:1");
  EXPECT_EQ(gone.code, 2);
  EXPECT_NE(gone.err.find("gateway_unreachable"), std::string::npos) << gone.err;
  const std::string audit = "audit --db " + db_ + " --payments-ledger " + dir_ + "/ledger";
  CmdResult clean = Keel(audit);
  EXPECT_EQ(clean.code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find("audit: 0 violations"), std::string::npos) << clean.out;
  auto inventory = persistence::OpenSqlDatabase(db_, "inventory", {});
  ASSERT_TRUE(inventory.ok());
  ASSERT_TRUE((*inventory)
                  ->Transact([](persistence::SqlTxn& t) {
                    return t
                        .Exec(
                            "INSERT INTO holds(hold_id, sku, quantity, expires_at, state, "
                            "order_id, created_at, updated_at) VALUES('h-big','sku-a',50,"
                            "9000000000000,'active','ord-x',0,0)")
                        .status();
                  })
                  .ok());
  CmdResult bad = Keel(audit);
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("sku-a"), std::string::npos) << bad.out;
}

TEST_F(CliTest, BenchEnginePrintsItsSummaryLine) {
  CmdResult r = Keel("bench engine --sagas 50 --activities 2 --concurrency 10");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(
      r.out,
      std::regex(R"(sagas=50 seconds=[0-9.]+ sagas_per_s=[0-9.]+ p50_ms=[0-9.]+ p99_ms=[0-9.]+)")))
      << r.out;
}

TEST_F(CliTest, BenchCheckoutRunsItsWorkersAsProcessesOnPostgres) {
  CmdResult lite = Keel("bench checkout --checkouts 5 --worker-processes 2");
  EXPECT_EQ(lite.code, 2);
  EXPECT_NE(lite.err.find("--worker-processes needs a PostgreSQL --db"), std::string::npos)
      << lite.err;
  if (!testutil::RequirePostgres()) return;
  auto pg = testutil::AllBackends().back().make();  // a fresh schema
  ASSERT_TRUE(pg);
  CmdResult r = Keel("bench checkout --checkouts 12 --concurrency 3 --worker-processes 1 --db '" +
                     pg->url() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("checkouts=12 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("confirmed=12 failed=0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace keel
