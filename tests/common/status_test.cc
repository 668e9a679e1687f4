#include "common/status.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd", "odd_number");
  return x / 2;
}

Status Chain(int x, int* out) {
  KEEL_ASSIGN_OR_RETURN(int h, Half(x));
  *out = h;
  return Status::Ok();
}

TEST(StatusTest, CarriesCodeReasonAndMessage) {
  Status s = Status::Unavailable("database is locked", "db_locked");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.transient());
  EXPECT_EQ(s.ToString(), "db_locked: database is locked");
  EXPECT_FALSE(Status::InvalidArgument("x").transient());
}

TEST(StatusTest, AssignOrReturnPropagates) {
  int out = 0;
  EXPECT_TRUE(Chain(8, &out).ok());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(Chain(3, &out).reason(), "odd_number");
}

}  // namespace
}  // namespace keel
