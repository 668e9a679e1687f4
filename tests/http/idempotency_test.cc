// Idempotency keys' fingerprints: keyed, and blind to secret fields. Which answers a
// key remembers.

#include "http/idempotency.h"

#include <gtest/gtest.h>

#include "common/temp_dir.h"

namespace keel::http {
namespace {

TEST(IdempotencyTest, FingerprintsAreKeyedAndLeaveSecretsOut) {
  auto dir = TempDir::Create("keel-idem");
  ASSERT_TRUE(dir.ok());
  auto db = persistence::OpenSqlDatabase("sqlite:" + dir->path(), "api", {});
  ASSERT_TRUE(db.ok());
  FakeClock clock(1'000'000);
  IdempotencyKeys keys(db->get(), &clock);
  const std::string a = R"({"email":"ann@example.com","password":"hunter2hunter2"})";
  const std::string b = R"({"email":"ann@example.com","password":"another-password"})";
  const std::string c = R"({"email":"bob@example.com","password":"hunter2hunter2"})";
  auto fa = keys.Fingerprint(a), fb = keys.Fingerprint(b), fc = keys.Fingerprint(c);
  ASSERT_TRUE(fa.ok() && fb.ok() && fc.ok());
  EXPECT_EQ(*fa, *fb);  // the password does not shape it
  EXPECT_NE(*fa, *fc);
  EXPECT_NE(*fa, "h1:" + Sha256Hex(a));  // not a plain hash anyone could recompute
  EXPECT_EQ(fa->rfind("h1:", 0), 0u);
  const std::string card1 = R"({"paymentInfo":{"cardNo":"4242424242424242"},"amount":1})";
  const std::string card2 = R"({"paymentInfo":{"cardNo":"4000000000000002"},"amount":1})";
  EXPECT_EQ(*keys.Fingerprint(card1), *keys.Fingerprint(card2));
  // Another database has another key.
  auto dir2 = TempDir::Create("keel-idem");
  auto db2 = persistence::OpenSqlDatabase("sqlite:" + dir2->path(), "api", {});
  IdempotencyKeys other(db2->get(), &clock);
  EXPECT_NE(*other.Fingerprint(a), *fa);
  // Keys older than a day are pruned.
  int runs = 0;
  auto run = [&] {
    ++runs;
    Response r{bhttp::status::created, 11};
    r.body() = "{}";
    return r;
  };
  keys.Run("scope", "k1", a, run);
  keys.Run("scope", "k1", a, run);
  EXPECT_EQ(runs, 1);
  clock.Advance(IdempotencyKeys::kKeepMs + 1);
  auto pruned = keys.Prune();
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 1);
}

// A reply that asks for a retry (a 5xx, or anything with Retry-After: a 429, a 409
// because another checkout of the cart is still running) is not the key's answer: the
// retry with the same key runs again, and only a final answer is replayed.
TEST(IdempotencyTest, RepliesThatAskForARetryAreNotRemembered) {
  auto dir = TempDir::Create("keel-idem");
  auto db = persistence::OpenSqlDatabase("sqlite:" + dir->path(), "api", {});
  ASSERT_TRUE(db.ok());
  FakeClock clock(1'000'000);
  IdempotencyKeys keys(db->get(), &clock);
  std::vector<Response> replies;
  for (auto [code, retry_after] :
       {std::pair{bhttp::status::conflict, true}, std::pair{bhttp::status::too_many_requests, true},
        std::pair{bhttp::status::service_unavailable, false},
        std::pair{bhttp::status::accepted, false}}) {
    Response r{code, 11};
    if (retry_after) r.set(bhttp::field::retry_after, "1");
    r.body() = std::to_string(static_cast<int>(code));
    replies.push_back(r);
  }
  size_t runs = 0;
  auto run = [&] { return replies[std::min(runs++, replies.size() - 1)]; };
  for (int i = 0; i < 4; ++i) {
    Response r = keys.Run("scope", "k", "req", run);
    EXPECT_EQ(r.body(), replies[i].body());
  }
  EXPECT_EQ(runs, 4u);
  Response again = keys.Run("scope", "k", "req", run);  // the 202 is the answer now
  EXPECT_EQ(runs, 4u);
  EXPECT_EQ(again.body(), "202");
  EXPECT_EQ(again["Idempotent-Replayed"], "true");
}

}  // namespace
}  // namespace keel::http
