// The hot-SKU admission gate on a clock the test moves: first come, first served,
// batches as tokens come, places given up by buyers who left.

#include "http/admission.h"

#include <gtest/gtest.h>

namespace keel::http {
namespace {

TEST(AdmissionGateTest, BuyersAreAdmittedInArrivalOrderAsTokensCome) {
  AdmissionGate gate({.per_s = 2, .burst = 2, .max_queue = 3, .forget_ms = 10'000});
  Millis t = 1'000'000;
  EXPECT_TRUE(gate.Enter("hot", "a", t).admitted);  // the burst
  EXPECT_TRUE(gate.Enter("hot", "b", t).admitted);
  Admission c = gate.Enter("hot", "c", t);
  EXPECT_FALSE(c.admitted);
  EXPECT_EQ(c.place, 1);
  EXPECT_EQ(c.retry_after_ms, 1000);  // at least a second
  EXPECT_EQ(gate.Enter("hot", "d", t).place, 2);
  EXPECT_EQ(gate.Enter("hot", "e", t).place, 3);
  EXPECT_TRUE(gate.Enter("hot", "f", t).full);       // max_queue
  EXPECT_TRUE(gate.Enter("cold", "f", t).admitted);  // every SKU has its own line
  // Half a second: one token. The second in line asks first and still waits its turn.
  t += 500;
  EXPECT_EQ(gate.Enter("hot", "d", t).place, 2);
  EXPECT_TRUE(gate.Enter("hot", "c", t).admitted);
  Admission d = gate.Enter("hot", "d", t);
  EXPECT_EQ(d.place, 1);
  // A second later two tokens: d, then e, in one batch, whoever asks first.
  t += 1000;
  EXPECT_TRUE(gate.Enter("hot", "e", t).admitted);
  EXPECT_TRUE(gate.Enter("hot", "d", t).admitted);
  // A buyer who stops asking gives the place up.
  t += 5000;
  EXPECT_TRUE(gate.Enter("hot", "g", t).admitted);
  EXPECT_TRUE(gate.Enter("hot", "h", t).admitted);
  EXPECT_EQ(gate.Enter("hot", "i", t).place, 1);  // i leaves
  EXPECT_EQ(gate.Enter("hot", "j", t).place, 2);
  t += 10'500;  // i forgot; j asked 10.5 s ago too: both gone; the line is empty
  EXPECT_TRUE(gate.Enter("hot", "k", t).admitted);
  AdmissionGate off({.per_s = 0});
  EXPECT_TRUE(off.Enter("hot", "a", t).admitted);
}

}  // namespace
}  // namespace keel::http
