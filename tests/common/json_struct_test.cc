// Structs to and from JSON (common/json_struct.h), and typed activities on top of it
// (engine/typed.h): what decodes, what is refused, and how the refusal reads.

#include "common/json_struct.h"

#include <gtest/gtest.h>

#include "engine/typed.h"

namespace keel {
namespace {

struct Line {
  std::string sku;
  int32_t quantity = 0;
};
BOOST_DESCRIBE_STRUCT(Line, (), (sku, quantity))

struct Order {
  std::string id;
  std::vector<Line> lines;
  std::optional<std::string> note;
  std::optional<Line> gift;
  bool paid = false;
  double weight = 0;
  json::value extra;
};
BOOST_DESCRIBE_STRUCT(Order, (), (id, lines, note, gift, paid, weight, extra))

struct Rejected : Order {
  std::string reason;
};
BOOST_DESCRIBE_STRUCT(Rejected, (Order), (reason))

std::string ShapeError(const std::string& text) {
  try {
    Decode<Order>(json::parse(text), "order");
  } catch (const JsonShapeError& e) {
    return e.what();
  }
  return "";
}

TEST(JsonStructTest, RoundTripsAndLeavesEmptyOptionalsOut) {
  Order o{"o1", {{"a", 2}, {"b", 1}},  std::nullopt, Line{"g", 1}, true,
          1.5,  json::object{{"k", 1}}};
  json::value v = Encode(o);
  EXPECT_EQ(json::serialize(v),
            R"({"id":"o1","lines":[{"sku":"a","quantity":2},{"sku":"b","quantity":1}],)"
            R"("gift":{"sku":"g","quantity":1},"paid":true,"weight":1.5E0,"extra":{"k":1}})");
  Order back = Decode<Order>(v);
  EXPECT_EQ(back.id, "o1");
  ASSERT_EQ(back.lines.size(), 2u);
  EXPECT_EQ(back.lines[1].sku, "b");
  EXPECT_FALSE(back.note);
  ASSERT_TRUE(back.gift);
  EXPECT_EQ(back.gift->sku, "g");
  EXPECT_TRUE(back.paid);
  EXPECT_EQ(back.extra.at("k").as_int64(), 1);
}

TEST(JsonStructTest, UnknownKeysAreIgnoredAndOptionalsMayBeMissingOrNull) {
  Order o = Decode<Order>(json::parse(
      R"({"id":"o","lines":[],"paid":false,"weight":2,"extra":null,"note":null,"added_later":1})"));
  EXPECT_EQ(o.id, "o");
  EXPECT_FALSE(o.note);
  EXPECT_EQ(o.weight, 2.0);  // an integer is a number too
}

TEST(JsonStructTest, RefusalsNameThePath) {
  EXPECT_EQ(ShapeError(R"({"lines":[],"paid":false,"weight":0,"extra":1})"), "order.id: missing");
  EXPECT_EQ(ShapeError(R"({"id":1,"lines":[],"paid":false,"weight":0,"extra":1})"),
            "order.id: expected a string");
  EXPECT_EQ(
      ShapeError(
          R"({"id":"o","lines":[{"sku":"a","quantity":1},{"sku":"b"}],"paid":false,"weight":0,"extra":1})"),
      "order.lines[1].quantity: missing");
  EXPECT_EQ(
      ShapeError(
          R"({"id":"o","lines":[{"sku":"a","quantity":3000000000}],"paid":false,"weight":0,"extra":1})"),
      "order.lines[0].quantity: expected an integer in range");
  EXPECT_EQ(ShapeError(R"({"id":"o","lines":{},"paid":false,"weight":0,"extra":1})"),
            "order.lines: expected an array");
  EXPECT_EQ(ShapeError(R"({"id":"o","lines":[],"paid":"yes","weight":0,"extra":1})"),
            "order.paid: expected true or false");
  EXPECT_EQ(ShapeError(R"([1,2])"), "order: expected an object");
}

TEST(JsonStructTest, InheritedMembersConvertToo) {
  Rejected r;
  r.id = "o";
  r.reason = "stock";
  json::value v = Encode(r);
  EXPECT_EQ(v.at("id").as_string(), "o");
  EXPECT_EQ(v.at("reason").as_string(), "stock");
  EXPECT_EQ(Decode<Rejected>(v).reason, "stock");
}

struct EchoIn {
  std::string text;
  int64_t times = 1;
};
BOOST_DESCRIBE_STRUCT(EchoIn, (), (text, times))
struct EchoOut {
  std::string echoed;
};
BOOST_DESCRIBE_STRUCT(EchoOut, (), (echoed))
inline constexpr ActivityRef<EchoIn, EchoOut> kEcho{"echo", "q"};

TEST(TypedActivityTest, AnInputThatDoesNotDecodeFailsWithoutARetry) {
  Registry registry;
  Register(registry, kEcho, [](ActivityContext&, const EchoIn& in) {
    std::string out;
    for (int64_t i = 0; i < in.times; ++i) out += in.text;
    return EchoOut{out};
  });
  const ActivityDef* def = registry.FindActivity("echo");
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->task_queue, "q");
  ActivityContext ctx(ActivityInfo{}, nullptr, nullptr);
  json::value out = def->fn(ctx, json::parse(R"({"text":"ab","times":2})"));
  EXPECT_EQ(json::serialize(out), R"({"echoed":"abab"})");
  try {
    def->fn(ctx, json::parse(R"({"times":2})"));
    FAIL() << "a missing field must be refused";
  } catch (const ApplicationError& e) {
    EXPECT_EQ(e.type(), "InvalidInput");
    EXPECT_TRUE(e.non_retryable());
    EXPECT_STREQ(e.what(), "echo input.text: missing");
  }
}

}  // namespace
}  // namespace keel
