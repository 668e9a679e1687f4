// The matcher's bounds on what a pool holds leased: quick tasks earn a buffer, slow
// ones keep the minimum, and neither goes outside [min_capacity, max_capacity].

#include "engine/matcher.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

using persistence::TaskKind;
using persistence::TaskRow;

// Reserves until the pool says no; gives the reservations back. Returns how many.
int Room(Matcher& m) {
  int n = 0;
  while (n < 10'000 && m.TryReserve(TaskKind::kActivity, "q")) ++n;
  m.Release(TaskKind::kActivity, "q", n);
  return n;
}

// Runs one task through the pool's only thread, reported as taking run_ms.
void RunOne(Matcher& m, Matcher::Pool* pool, double run_ms) {
  ASSERT_TRUE(m.TryReserve(TaskKind::kActivity, "q"));
  TaskRow t;
  t.kind = TaskKind::kActivity;
  t.queue = "q";
  m.Deliver(t);
  ASSERT_TRUE(m.Take(pool, 1000).has_value());
  m.Done(pool, run_ms);
}

TEST(MatcherTest, ABufferGrowsForQuickTasksAndShrinksForSlowOnes) {
  Matcher m;
  Matcher::Pool* pool = m.AddPool(TaskKind::kActivity, {"q"}, 4, 8, 100);
  EXPECT_EQ(Room(m), 8);  // nothing known yet: the minimum
  for (int i = 0; i < 50; ++i) RunOne(m, pool, 0.01);
  EXPECT_EQ(Room(m), 100);  // 4 threads start 20,000 such tasks in 50 ms: the cap
  for (int i = 0; i < 100; ++i) RunOne(m, pool, 40);
  // 4 threads start about 5 tasks of 40 ms in 50 ms: 4 + 5 = 9 slots.
  EXPECT_EQ(Room(m), 9);
  for (int i = 0; i < 100; ++i) RunOne(m, pool, 5000);
  EXPECT_EQ(Room(m), 8);  // never below the minimum
}

TEST(MatcherTest, AFixedPoolKeepsItsCapacity) {
  Matcher m;
  Matcher::Pool* pool = m.AddPool(TaskKind::kActivity, {"q"}, 2, 10, 10);
  for (int i = 0; i < 20; ++i) RunOne(m, pool, 0.01);
  EXPECT_EQ(Room(m), 10);
}

}  // namespace
}  // namespace keel
