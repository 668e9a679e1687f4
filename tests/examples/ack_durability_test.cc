// What Keel acknowledges is durable: a saga `POST /v1/workflows?wait=` answered as
// completed is completed in the store after `keel serve` is SIGKILLed straight after
// the answer, on both stores. Each round starts a server, runs sagas from several
// clients, and kills it the moment the round's Nth acknowledgement arrives; then the
// store itself is read.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "engine/inspect.h"
#include "tests/testing/backends.h"
#include "tests/testing/http_client.h"
#include "tests/testing/keel_process.h"

namespace keel {
namespace {

struct Ack {
  std::string run_id;
  json::value result;
};

class AckDurabilityTest : public ::testing::TestWithParam<testutil::Backend> {};

TEST_P(AckDurabilityTest, ASagaAnsweredCompletedSurvivesASigkillRightAfter) {
  auto backend = GetParam().make();
  if (!backend) return;
  auto tmp = TempDir::Create("keel-ack").value();
  std::mt19937 rng(20261127);
  std::map<std::string, Ack> acked;  // every round's, by workflow id
  std::mutex mu;
  const int kRounds = 4, kClients = 6;
  for (int round = 0; round < kRounds; ++round) {
    testutil::ServeProcess serve(KEEL_BINARY, backend->url(),
                                 tmp.path() + "/serve-" + std::to_string(round) + ".log",
                                 {"--seed-demo", "0", "--admin-token", "ack-token"});
    ASSERT_TRUE(serve.ok()) << serve.process().Log();
    const pid_t pid = serve.process().pid();
    const int kill_at = 5 + static_cast<int>(rng() % 20);
    std::atomic<int> acks{0};
    std::atomic<bool> killed{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        testutil::HttpClient http(serve.port());
        for (int n = 0; !killed; ++n) {
          const std::string id =
              "ack-" + std::to_string(round) + "-" + std::to_string(c) + "-" + std::to_string(n);
          testutil::HttpResult r;
          try {
            r = http.Call(
                "POST", "/v1/workflows?wait=20",
                R"({"type":"DemoSaga","workflow_id":")" + id + R"(","input":{"steps":2}})",
                "ack-token");
          } catch (const std::exception&) {
            break;  // the server is gone
          }
          if (r.status != 200) break;
          json::value v = r.Json();
          if (v.at("status") != "completed") continue;
          {
            std::lock_guard<std::mutex> l(mu);
            acked[id] = {std::string(v.at("run_id").as_string()), v.at("result")};
          }
          if (++acks == kill_at && !killed.exchange(true)) kill(pid, SIGKILL);
        }
      });
    }
    for (auto& t : clients) t.join();
    ASSERT_TRUE(killed) << "round " << round << " never reached " << kill_at << " answers";
    serve.process().Kill();  // reaps it
  }

  auto store = backend->Open(SystemClock::Default());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_GE(acked.size(), static_cast<size_t>(kRounds * 5));
  for (const auto& [id, ack] : acked) {
    auto row = (*store)->ReadCurrentExecution(id);
    ASSERT_TRUE(row.ok()) << id << ": " << row.status().ToString();
    ASSERT_TRUE(row->has_value()) << id << " was answered completed and is not in the store";
    EXPECT_EQ((*row)->run_id, ack.run_id) << id;
    EXPECT_EQ((*row)->status, persistence::ExecutionStatus::kCompleted) << id;
    EXPECT_EQ(DecodePayloadBytes((*row)->result), ack.result) << id;
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, AckDurabilityTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel
