// Parked long-polls and the offload pool, without a server: a Deferred reply is
// started by hand with a Respond that records what it was given.

#include "http/waiters.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "http/router.h"
#include "http/work_pool.h"

namespace keel::http {
namespace {

using namespace std::chrono_literals;

// Starts a Deferred reply; the future gets its response.
std::future<Response> Start(Reply reply) {
  auto p = std::make_shared<std::promise<Response>>();
  auto f = p->get_future();
  if (auto* r = std::get_if<Response>(&reply)) {
    p->set_value(std::move(*r));
  } else {
    std::get<Deferred>(reply).start([p](Response r) { p->set_value(std::move(r)); });
  }
  return f;
}

TEST(WaitersTest, ANotifiedWaitAnswersAtOnce) {
  Waiters w({.max_total = 10, .max_per_owner = 10, .first_poll_ms = 60'000, .max_poll_ms = 60'000});
  std::atomic<bool> done{false};
  std::atomic<int> checks{0};
  auto f = Start(w.Park({"order:1"}, "ann", 30'000, [&](bool final) -> std::optional<Response> {
    ++checks;
    if (done || final) return JsonResponse(200, json::object{{"final", final}});
    return std::nullopt;
  }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(checks.load(), 1);  // checked once when parked; the poll is far off
  EXPECT_EQ(f.wait_for(0ms), std::future_status::timeout);
  done = true;
  w.Notify("order:2");  // another key: nothing
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(f.wait_for(0ms), std::future_status::timeout);
  w.Notify("order:1");
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(f.get().body(), R"({"final":false})");
  EXPECT_EQ(w.parked(), 0u);
}

TEST(WaitersTest, ThePollFindsChangesNobodyNotified) {
  Waiters w({.max_total = 10, .max_per_owner = 10, .first_poll_ms = 20, .max_poll_ms = 40});
  auto until = std::chrono::steady_clock::now() + 200ms;
  auto f = Start(w.Park({"run:x"}, "ann", 30'000, [&](bool) -> std::optional<Response> {
    if (std::chrono::steady_clock::now() < until) return std::nullopt;
    return JsonResponse(200, json::object{});
  }));
  EXPECT_EQ(f.wait_for(2s), std::future_status::ready);
}

TEST(WaitersTest, TheDeadlineAndStopGiveTheFinalAnswer) {
  Waiters w({.max_total = 10, .max_per_owner = 10, .first_poll_ms = 50, .max_poll_ms = 50});
  auto never = [](bool final) -> std::optional<Response> {
    if (!final) return std::nullopt;
    return JsonResponse(202, json::object{});
  };
  auto t0 = std::chrono::steady_clock::now();
  auto soon = Start(w.Park({"a"}, "ann", 300, never));
  ASSERT_EQ(soon.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(soon.get().result_int(), 202u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 290ms);
  auto late = Start(w.Park({"b"}, "ann", 60'000, never));
  std::this_thread::sleep_for(50ms);
  w.Stop();
  ASSERT_EQ(late.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(late.get().result_int(), 202u);
  auto after = Start(w.Park({"c"}, "ann", 60'000, never));  // after Stop: at once
  ASSERT_EQ(after.wait_for(2s), std::future_status::ready);
}

TEST(WaitersTest, CapsPerOwnerAndInAll) {
  Waiters w({.max_total = 3, .max_per_owner = 2, .first_poll_ms = 50, .max_poll_ms = 50});
  auto never = [](bool final) -> std::optional<Response> {
    if (!final) return std::nullopt;
    return JsonResponse(202, json::object{});
  };
  std::vector<std::future<Response>> parked;
  parked.push_back(Start(w.Park({"a"}, "ann", 60'000, never)));
  parked.push_back(Start(w.Park({"a"}, "ann", 60'000, never)));
  auto third = Start(w.Park({"a"}, "ann", 60'000, never));
  ASSERT_EQ(third.wait_for(0ms), std::future_status::ready);
  Response refused = third.get();
  EXPECT_EQ(refused.result_int(), 429u);
  EXPECT_NE(refused.body().find("too_many_waiters"), std::string::npos);
  parked.push_back(Start(w.Park({"a"}, "bob", 60'000, never)));
  auto full = Start(w.Park({"a"}, "cy", 60'000, never));
  EXPECT_EQ(full.get().result_int(), 429u);
  w.Stop();
  for (auto& f : parked) EXPECT_EQ(f.get().result_int(), 202u);
}

TEST(WorkPoolTest, OffloadedJobsAnswerAndAFullQueueRefuses) {
  WorkPool pool(1, 2);
  std::promise<void> gate, running;
  auto opened = gate.get_future().share();
  auto blocked = [opened] {
    opened.wait();
    return JsonResponse(200, json::object{});
  };
  auto a = Start(pool.Offload([&running, blocked] {
    running.set_value();
    return blocked();
  }));
  running.get_future().wait();            // a holds the only thread
  auto b = Start(pool.Offload(blocked));  // queued
  auto c = Start(pool.Offload(blocked));  // queued: the queue is full
  auto d = Start(pool.Offload(blocked));
  ASSERT_EQ(d.wait_for(0ms), std::future_status::ready);
  Response busy = d.get();
  EXPECT_EQ(busy.result_int(), 503u);
  EXPECT_EQ(busy.at(bhttp::field::retry_after), "1");
  gate.set_value();
  EXPECT_EQ(a.get().result_int(), 200u);
  EXPECT_EQ(b.get().result_int(), 200u);
  EXPECT_EQ(c.get().result_int(), 200u);
  pool.Stop();
  EXPECT_EQ(Start(pool.Offload(blocked)).get().result_int(), 503u);
}

}  // namespace
}  // namespace keel::http
