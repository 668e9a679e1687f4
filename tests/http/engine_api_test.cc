// The engine's HTTP API (/v1) over real HTTP, with a real engine and workers on every
// store: the admin token, starting and waiting, listing, describing a stuck run,
// history, signals, queries, cancel, terminate, reset, task queues, and bad input.

#include "http/engine_api.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/engine.h"
#include "engine/replayer.h"
#include "examples/demo_saga.h"
#include "http/server.h"
#include "tests/testing/backends.h"
#include "tests/testing/http_client.h"

namespace keel {
namespace {

using testutil::HttpClient;
using testutil::HttpResult;

constexpr const char* kToken = "test-admin-token";

class EngineApiTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    auto store = backend_->Open(SystemClock::Default());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    examples::RegisterDemo(registry_, nullptr);
    engine_ = std::make_unique<Engine>(store_.get(), &registry_, EngineOptions{});
    engine_->Start();
    http::EngineApiOptions o;
    o.history = &engine_->history();
    o.store = store_.get();
    o.registry = &registry_;
    o.admin_token = kToken;
    o.waiters = &waiters_;
    api_ = std::make_unique<http::EngineApi>(o);
    api_->AddRoutes(router_);
    http::ServerOptions so;
    so.port = 0;
    server_ = std::make_unique<http::HttpServer>(
        so, [this](const http::Request& r, const http::RequestInfo& i) {
          return router_.Handle(r, i);
        });
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<HttpClient>(server_->port());
  }
  void TearDown() override {
    waiters_.Stop();
    if (server_) server_->Stop();
    if (engine_) engine_->Stop();
  }
  HttpResult Admin(const std::string& method, const std::string& target,
                   const std::string& body = "") {
    return client_->Call(method, target, body, kToken);
  }
  // Polls describe until `pred` holds (or 10 s pass).
  json::value DescribeUntil(const std::string& id,
                            const std::function<bool(const json::value&)>& pred) {
    json::value last;
    for (int i = 0; i < 500; ++i) {
      HttpResult r = Admin("GET", "/v1/workflows/" + id);
      if (r.status == 200) {
        last = r.Json();
        if (pred(last)) return last;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "condition never held; last: " << json::serialize(last);
    return last;
  }

  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<persistence::Store> store_;
  Registry registry_;
  http::Waiters waiters_;  // outlives the engine, whose close hook notifies it
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<http::EngineApi> api_;
  http::Router router_;
  std::unique_ptr<http::HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_P(EngineApiTest, EveryRouteNeedsTheAdminToken) {
  HttpResult none = client_->Call("GET", "/v1/workflows");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.ErrorCode(), "unauthenticated");
  HttpResult wrong = client_->Call("GET", "/v1/task-queues", "", "not-the-token");
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(wrong.ErrorCode(), "forbidden");
  HttpResult start = client_->Call("POST", "/v1/workflows", R"({"type":"DemoSaga"})");
  EXPECT_EQ(start.status, 401);
  EXPECT_EQ(Admin("GET", "/v1/task-queues").status, 200);
}

TEST_P(EngineApiTest, StartWaitListDescribeAndHistory) {
  HttpResult r = Admin("POST", "/v1/workflows?wait=20",
                       R"({"type":"DemoSaga","workflow_id":"api-1","input":{"steps":2}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Json().at("status"), "completed");
  EXPECT_EQ(r.Json().at("result"), json::parse(R"({"completed":[1,2],"compensated":[]})"));

  HttpResult list = Admin("GET", "/v1/workflows?type=DemoSaga&status=completed");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.Json().at("workflows").as_array().size(), 1u);
  EXPECT_EQ(list.Json().at("workflows").as_array()[0].at("workflow_id"), "api-1");

  HttpResult d = Admin("GET", "/v1/workflows/api-1");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(d.Json().at("status"), "completed");

  HttpResult h = Admin("GET", "/v1/workflows/api-1/history");
  ASSERT_EQ(h.status, 200);
  auto parsed = ParseHistoryJson(h.body);  // the format `keel workflow replay --file` reads
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->events(0).has_workflow_execution_started());
  EXPECT_TRUE(ReplayHistory(registry_, *parsed).ok());
}

TEST_P(EngineApiTest, CountsByStatusAndAnIdPrefixNarrowListsAndCounts) {
  for (const char* id : {"alpha-1", "alpha-2", "beta-1"}) {
    HttpResult r = Admin(
        "POST", "/v1/workflows?wait=20",
        std::string(R"({"type":"DemoSaga","workflow_id":")") + id + R"(","input":{"steps":1}})");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  ASSERT_EQ(
      Admin("POST", "/v1/workflows",
            R"({"type":"DemoSaga","workflow_id":"alpha-stuck","input":{"steps":2,"stuck_at":1}})")
          .status,
      201);
  HttpResult all = Admin("GET", "/v1/workflow-counts");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.Json().at("total"), 4);
  EXPECT_EQ(all.Json().at("by_status").at("completed"), 3);
  EXPECT_EQ(all.Json().at("by_status").at("running"), 1);
  EXPECT_EQ(all.Json().at("by_status").at("failed"), 0);
  HttpResult alpha = Admin("GET", "/v1/workflow-counts?id_prefix=alpha-");
  EXPECT_EQ(alpha.Json().at("total"), 3) << alpha.body;
  EXPECT_EQ(Admin("GET", "/v1/workflow-counts?type=Nope").Json().at("total"), 0);
  HttpResult list = Admin("GET", "/v1/workflows?id_prefix=alpha-&status=completed");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.Json().at("workflows").as_array().size(), 2u);
  // A prefix is text, not a pattern.
  EXPECT_EQ(Admin("GET", "/v1/workflows?id_prefix=%25").Json().at("workflows").as_array().size(),
            0u);
  EXPECT_EQ(Admin("GET", "/v1/workflow-counts?id_prefix=" + std::string(201, 'a')).status, 422);
  EXPECT_EQ(client_->Call("GET", "/v1/workflow-counts").status, 401);
}

TEST_P(EngineApiTest, AStuckRunIsDescribedSignalledResetAndTerminated) {
  HttpResult r =
      Admin("POST", "/v1/workflows",
            R"({"type":"DemoSaga","workflow_id":"stuck","input":{"steps":3,"stuck_at":2}})");
  ASSERT_EQ(r.status, 201) << r.body;
  std::string first_run(r.Json().at("run_id").as_string());
  json::value d = DescribeUntil("stuck", [](const json::value& v) {
    const auto& p = v.at("pending_activities").as_array();
    return !p.empty() && p[0].at("attempt").as_int64() >= 2;
  });
  EXPECT_EQ(d.at("status"), "running");
  EXPECT_FALSE(d.at("pending_activities").as_array()[0].at("last_failure").is_null());
  // Its queue shows the task that keeps failing.
  HttpResult queue = Admin("GET", "/v1/task-queues/demo?size=5");
  ASSERT_EQ(queue.status, 200) << queue.body;
  const json::value qv = queue.Json();
  const auto& tasks = qv.at("tasks").as_array();
  ASSERT_EQ(tasks.size(), 1u) << queue.body;
  EXPECT_EQ(tasks[0].at("workflow_id"), "stuck");
  EXPECT_EQ(tasks[0].at("kind"), "activity");
  EXPECT_FALSE(tasks[0].at("last_failure").is_null()) << queue.body;
  // This process's workers poll the queue, and say so.
  const auto& pollers = qv.at("pollers").as_array();
  ASSERT_FALSE(pollers.empty()) << queue.body;
  EXPECT_LT(pollers[0].at("last_poll_age_ms").as_int64(), EngineClient::kPollersRecentMs);
  bool listed = false;
  const json::value all = Admin("GET", "/v1/task-queues").Json();
  for (const auto& q : all.at("queues").as_array()) {
    if (q.at("queue") == "demo") listed = !q.at("pollers").as_array().empty();
  }
  EXPECT_TRUE(listed);
  EXPECT_EQ(Admin("GET", "/v1/task-queues/demo?size=0").status, 422);

  EXPECT_EQ(Admin("POST", "/v1/workflows/stuck/signals/nudge", R"({"n":1})").status, 202);
  HttpResult q = Admin("GET", "/v1/workflows/stuck/queries/state");
  EXPECT_EQ(q.status, 404);  // DemoSaga answers no queries
  EXPECT_EQ(q.ErrorCode(), "unknown_query");

  HttpResult bad_reset = Admin("POST", "/v1/workflows/stuck/reset", R"({"event_id":1})");
  EXPECT_EQ(bad_reset.status, 400);
  EXPECT_EQ(bad_reset.ErrorCode(), "reset_point_invalid");
  HttpResult reset = Admin("POST", "/v1/workflows/stuck/reset", R"({"reason":"retry"})");
  ASSERT_EQ(reset.status, 200) << reset.body;
  EXPECT_NE(reset.Json().at("run_id"), json::value(first_run));

  HttpResult term = Admin("POST", "/v1/workflows/stuck/terminate", R"({"reason":"gave up"})");
  ASSERT_EQ(term.status, 200) << term.body;
  EXPECT_EQ(Admin("GET", "/v1/workflows/stuck").Json().at("status"), "terminated");
  HttpResult again = Admin("POST", "/v1/workflows/stuck/terminate");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.ErrorCode(), "workflow_closed");
  EXPECT_EQ(Admin("POST", "/v1/workflows/stuck/cancel").status, 409);
}

TEST_P(EngineApiTest, BadInputIsAClearError) {
  EXPECT_EQ(Admin("POST", "/v1/workflows", "{not json").status, 400);
  HttpResult missing = Admin("POST", "/v1/workflows", R"({"workflow_id":"x"})");
  EXPECT_EQ(missing.status, 422);
  HttpResult type = Admin("POST", "/v1/workflows", R"({"type":"Nope","workflow_id":"x"})");
  EXPECT_EQ(type.status, 422);
  EXPECT_NE(type.body.find("DemoSaga"), std::string::npos) << type.body;
  HttpResult reuse = Admin("POST", "/v1/workflows",
                           R"({"type":"DemoSaga","workflow_id":"x","reuse_policy":"sometimes"})");
  EXPECT_EQ(reuse.status, 422);
  EXPECT_EQ(
      Admin("POST", "/v1/workflows?wait=9999", R"({"type":"DemoSaga","workflow_id":"x"})").status,
      422);
  EXPECT_EQ(Admin("GET", "/v1/workflows?status=sleeping").status, 422);
  EXPECT_EQ(Admin("GET", "/v1/workflows?size=0").status, 422);
  HttpResult unknown = Admin("GET", "/v1/workflows/no-such-id");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.ErrorCode(), "workflow_not_found");
  EXPECT_EQ(Admin("GET", "/v1/workflows/no-such-id/history").status, 404);
  EXPECT_EQ(Admin("POST", "/v1/workflows/no-such-id/signals/x", "{oops").status, 400);
  EXPECT_EQ(Admin("POST", "/v1/workflows/no-such-id/signals/x", "1").status, 404);
  EXPECT_EQ(Admin("GET", "/v1/workflows/no-such-id/queries/state?args=%7Boops").status, 422);
}

// The value of one sample line `series` (name and labels exactly as rendered), or 0.
double Sample(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    at += series.size();
  }
  return 0;
}

TEST_P(EngineApiTest, MetricsMoveAsTheWorkHappens) {
  HttpResult before = client_->Call("GET", "/metrics");  // no token needed
  ASSERT_EQ(before.status, 200);
  EXPECT_NE(before.headers["Content-Type"].find("text/plain"), std::string::npos);
  const std::string started = R"(keel_workflows_started_total{workflow_type="DemoSaga"})";
  const std::string completed =
      R"(keel_workflows_closed_total{workflow_type="DemoSaga",status="completed"})";
  const std::string attempts =
      R"(keel_activity_attempts_total{activity_type="DemoStep",outcome="completed"})";
  const std::string wt = R"(keel_workflow_task_seconds_count{workflow_type="DemoSaga"})";
  const std::string posts =
      R"(keel_http_requests_total{route="/v1/workflows",method="POST",status="200"})";
  HttpResult r = Admin("POST", "/v1/workflows?wait=20",
                       R"({"type":"DemoSaga","workflow_id":"m-1","input":{"steps":3}})");
  ASSERT_EQ(r.status, 200) << r.body;
  HttpResult after = client_->Call("GET", "/metrics");
  EXPECT_EQ(Sample(after.body, started) - Sample(before.body, started), 1);
  EXPECT_EQ(Sample(after.body, completed) - Sample(before.body, completed), 1);
  EXPECT_EQ(Sample(after.body, attempts) - Sample(before.body, attempts), 3);
  EXPECT_GE(Sample(after.body, wt) - Sample(before.body, wt), 4);  // start + one per step
  EXPECT_EQ(Sample(after.body, posts) - Sample(before.body, posts), 1);
  EXPECT_GT(Sample(after.body, "keel_store_transaction_seconds_count"),
            Sample(before.body, "keel_store_transaction_seconds_count"));
  EXPECT_EQ(Sample(after.body, "keel_store_up"), 1);

  // A stuck saga shows as a task on queue "demo" and failed attempts.
  ASSERT_EQ(Admin("POST", "/v1/workflows",
                  R"({"type":"DemoSaga","workflow_id":"m-stuck","input":{"steps":2,"stuck_at":1}})")
                .status,
            201);
  const std::string failed =
      R"(keel_activity_attempts_total{activity_type="DemoStep",outcome="failed"})";
  double tasks = 0, fails = 0;
  for (int i = 0; i < 500 && (tasks < 1 || fails < 2); ++i) {
    std::string m = client_->Call("GET", "/metrics").body;
    tasks = Sample(m, R"(keel_task_queue_tasks{queue="demo",state="ready"})") +
            Sample(m, R"(keel_task_queue_tasks{queue="demo",state="leased"})") +
            Sample(m, R"(keel_task_queue_tasks{queue="demo",state="delayed"})");
    fails = Sample(m, failed) - Sample(before.body, failed);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(tasks, 1);
  EXPECT_GE(fails, 2);
  ASSERT_EQ(Admin("POST", "/v1/workflows/m-stuck/terminate").status, 200);
  std::string end = client_->Call("GET", "/metrics").body;
  EXPECT_EQ(Sample(end, R"(keel_task_queue_tasks{queue="demo",state="delayed"})") +
                Sample(end, R"(keel_task_queue_tasks{queue="demo",state="ready"})"),
            0);
  EXPECT_GE(
      Sample(end, R"(keel_workflows_closed_total{workflow_type="DemoSaga",status="terminated"})"),
      1);
}

INSTANTIATE_TEST_SUITE_P(Stores, EngineApiTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
