// Client addresses behind proxies, token buckets, login backoff, and the router gate
// that applies them.

#include <gtest/gtest.h>

#include "http/client_address.h"
#include "http/rate_limiter.h"
#include "http/request_limits.h"

namespace keel::http {
namespace {

TEST(TrustedProxiesTest, ForwardedForCountsOnlyFromTrustedPeers) {
  auto t = TrustedProxies::Parse("10.0.0.0/8, 192.168.1.7,::1");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  // An untrusted peer's header is ignored: a client cannot pick its own address.
  EXPECT_EQ(t->ClientOf("203.0.113.9", "1.2.3.4"), "203.0.113.9");
  // A trusted proxy's header names the client: the rightmost hop not ours.
  EXPECT_EQ(t->ClientOf("10.1.2.3", "198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(t->ClientOf("10.1.2.3", "6.6.6.6, 198.51.100.7, 10.9.9.9"), "198.51.100.7");
  EXPECT_EQ(t->ClientOf("192.168.1.7", " 198.51.100.8 "), "198.51.100.8");
  EXPECT_EQ(t->ClientOf("::1", "2001:db8::1"), "2001:db8::1");
  // Garbage stops the walk at the last address we could trust.
  EXPECT_EQ(t->ClientOf("10.1.2.3", "not-an-ip"), "10.1.2.3");
  EXPECT_EQ(t->ClientOf("10.1.2.3", "198.51.100.7, junk"), "10.1.2.3");
  // Every hop trusted: the leftmost is all we know.
  EXPECT_EQ(t->ClientOf("10.1.2.3", "10.4.4.4"), "10.4.4.4");
  EXPECT_TRUE(t->Contains("10.255.0.1"));
  EXPECT_FALSE(t->Contains("11.0.0.1"));
  EXPECT_FALSE(t->Contains("192.168.1.8"));
  EXPECT_FALSE(TrustedProxies::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(TrustedProxies::Parse("example.com").ok());
  auto none = TrustedProxies::Parse("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->ClientOf("10.1.2.3", "1.2.3.4"), "10.1.2.3");
}

TEST(RateLimiterTest, ABucketRefillsAtItsRate) {
  FakeClock clock(0);
  RateLimiter r({2, 4}, &clock);  // 2/s, bursts of 4
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.Admit("a"), 0);
  Millis wait = r.Admit("a");
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 500);
  EXPECT_EQ(r.Admit("b"), 0);  // another key has its own bucket
  clock.Advance(wait);
  EXPECT_EQ(r.Admit("a"), 0);
  EXPECT_GT(r.Admit("a"), 0);
  RateLimiter unlimited({0, 0}, &clock);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(unlimited.Admit("a"), 0);
}

TEST(LoginBackoffTest, FailuresInARowWaitLongerAndASuccessClears) {
  FakeClock clock(0);
  LoginBackoff b({3, 1000, 4000}, &clock);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(b.Wait("ann"), 0);
    b.Failed("ann");
  }
  EXPECT_EQ(b.Wait("ann"), 0);
  b.Failed("ann");  // the third: from now on, wait
  EXPECT_EQ(b.Wait("ann"), 1000);
  EXPECT_EQ(b.Wait("bob"), 0);
  clock.Advance(1000);
  b.Failed("ann");
  EXPECT_EQ(b.Wait("ann"), 2000);
  clock.Advance(2000);
  b.Failed("ann");
  clock.Advance(0);
  EXPECT_EQ(b.Wait("ann"), 4000);
  clock.Advance(4000);
  b.Failed("ann");
  EXPECT_EQ(b.Wait("ann"), 4000);  // capped
  b.Succeeded("ann");
  EXPECT_EQ(b.Wait("ann"), 0);
}

TEST(RequestLimitsTest, AddressAndAccountLimitsForReadsAndWrites) {
  FakeClock clock(0);
  RequestLimitOptions o;
  o.address_reads = {1, 2};
  o.address_writes = {1, 1};
  o.account_reads = {0, 0};
  o.account_writes = {1, 1};
  RequestLimits limits(o, &clock, [](std::string_view auth) {
    return auth == "Bearer good" ? std::string("user-1") : std::string();
  });
  auto call = [&](bhttp::verb verb, const std::string& ip, const std::string& auth,
                  const std::string& route = "/cart") {
    Request raw{verb, route, 11};
    if (!auth.empty()) raw.set(bhttp::field::authorization, auth);
    RequestInfo info{ip, "rid"};
    ApiRequest req{raw, info, {}, {}};
    return limits.Check(req, route);
  };
  EXPECT_FALSE(call(bhttp::verb::get, "1.1.1.1", ""));
  EXPECT_FALSE(call(bhttp::verb::get, "1.1.1.1", ""));
  auto third = call(bhttp::verb::get, "1.1.1.1", "");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->result_int(), 429u);
  EXPECT_EQ(third->at(bhttp::field::retry_after), "1");
  // Writes have their own bucket; probes and webhooks are never limited.
  EXPECT_FALSE(call(bhttp::verb::post, "1.1.1.1", ""));
  EXPECT_TRUE(call(bhttp::verb::post, "1.1.1.1", ""));
  EXPECT_FALSE(call(bhttp::verb::get, "1.1.1.1", "", "/healthz"));
  EXPECT_FALSE(call(bhttp::verb::post, "1.1.1.1", "", "/webhooks/payments"));
  // An account is limited across addresses; a bad token is left to the handler.
  EXPECT_FALSE(call(bhttp::verb::post, "2.2.2.2", "Bearer good"));
  auto again = call(bhttp::verb::post, "3.3.3.3", "Bearer good");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result_int(), 429u);
  EXPECT_FALSE(call(bhttp::verb::post, "4.4.4.4", "Bearer bad"));
}

}  // namespace
}  // namespace keel::http
