// The carrier simulator over real HTTP: shipments idempotent by key and by reference,
// tracking steps paced by speed and delivered as signed webhooks, cancel only before
// the parcel leaves, and bad input.

#include "sims/carrier/carrier_sim.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/temp_dir.h"
#include "http/client.h"
#include "http/server.h"
#include "http/webhook_signature.h"

namespace keel::sims {
namespace {

using namespace std::chrono_literals;

class CarrierSimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>(TempDir::Create("keel-carrier").value());
    auto db = persistence::OpenSqlDatabase("sqlite:" + dir_->path(), "carrier_sim", {});
    ASSERT_TRUE(db.ok());
    CarrierSimOptions o;
    o.control_token = "carrier-control";
    o.faults.step_ms = 50;
    o.faults.paused = true;
    sim_ = CarrierSim::Open(std::move(db).value(), SystemClock::Default(), o).value();
    sim_->AddRoutes(router_);
    server_ = Serve(&router_);
    // The shop's side: verify each signature, record the statuses in order.
    hook_router_.Add(http::bhttp::verb::post, "/hook", [this](const http::ApiRequest& req) {
      if (!http::VerifyWebhook(sim_->webhook_secret(), req.Header(http::kSignatureHeader),
                               req.raw.body(), std::time(nullptr))
               .ok()) {
        return http::ErrorResponse(400, "invalid_signature", "bad");
      }
      json::value v = ParseJson(req.raw.body()).value();
      std::lock_guard<std::mutex> l(mu_);
      seen_.emplace_back(v.at("data").at("object").at("status").as_string());
      return http::JsonResponse(200, json::object{});
    });
    hooks_ = Serve(&hook_router_);
    sim_->SetWebhookUrl("http://127.0.0.1:" + std::to_string(hooks_->port()) + "/hook");
    sim_->Start();
    url_ = http::ParseHttpUrl("http://127.0.0.1:" + std::to_string(server_->port())).value();
  }
  void TearDown() override {
    sim_->Stop();
    server_->Stop(100);
    hooks_->Stop(100);
  }
  static std::unique_ptr<http::HttpServer> Serve(http::Router* r) {
    http::ServerOptions o;
    o.port = 0;
    o.threads = 2;
    auto s = std::make_unique<http::HttpServer>(
        o, [r](const http::Request& q, const http::RequestInfo& i) { return r->Handle(q, i); });
    EXPECT_TRUE(s->Start().ok());
    return s;
  }
  http::ClientResponse Post(const std::string& target, const std::string& body,
                            const std::string& key = "", const std::string& bearer = "") {
    std::map<std::string, std::string> h;
    if (!key.empty()) h["Idempotency-Key"] = key;
    if (!bearer.empty()) h["Authorization"] = "Bearer " + bearer;
    return http::HttpCall(url_, "POST", target, body, h).value();
  }
  http::ClientResponse Control(const std::string& target, const std::string& body) {
    return Post(target, body, "", "carrier-control");
  }
  std::vector<std::string> Seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  void Unpause() {
    CarrierFaults f = sim_->faults();
    f.paused = false;
    sim_->SetFaults(f);
  }

  static constexpr const char* kBody =
      R"({"reference":"ord_1","address":{"name":"Ann","line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"},"metadata":{"order_id":"ord_1"}})";
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<CarrierSim> sim_;
  http::Router router_, hook_router_;
  std::unique_ptr<http::HttpServer> server_, hooks_;
  http::Url url_;
  std::mutex mu_;
  std::vector<std::string> seen_;
};

TEST_F(CarrierSimTest, OneShipmentPerReferenceTrackedToDelivery) {
  auto a = Post("/v1/shipments", kBody, "k1");
  ASSERT_EQ(a.status, 201) << a.body;
  auto again = Post("/v1/shipments", kBody, "k1");  // same key: the stored reply
  EXPECT_EQ(again.body, a.body);
  auto other_key = Post("/v1/shipments", kBody, "k2");  // same reference: the same parcel
  EXPECT_EQ(other_key.status, 200);
  json::value s = ParseJson(a.body).value();
  EXPECT_EQ(ParseJson(other_key.body)->at("shipment_id"), s.at("shipment_id"));
  EXPECT_EQ(s.at("status"), "label_created");
  EXPECT_FALSE(s.at("tracking_number").as_string().empty());
  Unpause();
  for (int i = 0; i < 300 && Seen().size() < 4; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(Seen(), (std::vector<std::string>{"label_created", "in_transit", "out_for_delivery",
                                              "delivered"}));
  auto got =
      http::HttpCall(url_, "GET", "/v1/shipments/" + std::string(s.at("shipment_id").as_string()));
  EXPECT_EQ(ParseJson(got->body)->at("status"), "delivered");
  EXPECT_EQ(ParseJson(got->body)->at("tracking").as_array().size(), 4u);
}

TEST_F(CarrierSimTest, CancelOnlyBeforeTheParcelLeaves) {
  json::value s = ParseJson(Post("/v1/shipments", kBody).body).value();
  const std::string id(s.at("shipment_id").as_string());
  auto c = Post("/v1/shipments/" + id + "/cancel", "{}");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(ParseJson(c.body)->at("status"), "cancelled");
  EXPECT_EQ(Post("/v1/shipments/" + id + "/cancel", "{}").status, 200);  // twice is fine
  Unpause();
  std::this_thread::sleep_for(300ms);  // a cancelled parcel never moves
  auto got = http::HttpCall(url_, "GET", "/v1/shipments/" + id);
  EXPECT_EQ(ParseJson(got->body)->at("status"), "cancelled");

  std::string moving = std::string(kBody);
  moving.replace(moving.find("ord_1"), 5, "ord_2");
  json::value m = ParseJson(Post("/v1/shipments", moving).body).value();
  for (int i = 0; i < 300; ++i) {
    auto g = http::HttpCall(url_, "GET",
                            "/v1/shipments/" + std::string(m.at("shipment_id").as_string()));
    if (ParseJson(g->body)->at("status") != "label_created") break;
    std::this_thread::sleep_for(10ms);
  }
  auto late =
      Post("/v1/shipments/" + std::string(m.at("shipment_id").as_string()) + "/cancel", "{}");
  EXPECT_EQ(late.status, 409);
  EXPECT_NE(late.body.find("shipment_in_transit"), std::string::npos);
}

TEST_F(CarrierSimTest, BadInputIsAClearError) {
  auto no_city = Post(
      "/v1/shipments",
      R"({"reference":"r","address":{"name":"A","line1":"1","postal_code":"1","country":"US"}})");
  EXPECT_EQ(no_city.status, 422);
  EXPECT_NE(no_city.body.find("address.city"), std::string::npos);
  EXPECT_EQ(Post("/v1/shipments", "{nope").status, 400);
  EXPECT_EQ(http::HttpCall(url_, "GET", "/v1/shipments/shp_missing")->status, 404);
  EXPECT_EQ(Control("/v1/sim/faults", R"({"speed":-1})").status, 422);
  EXPECT_EQ(Control("/v1/sim/faults", R"({"warp":1})").status, 422);
  // The controls need the control token.
  EXPECT_EQ(Post("/v1/sim/faults", R"({"speed":2})").status, 401);
  EXPECT_EQ(Post("/v1/sim/faults", R"({"speed":2})", "", "wrong").status, 403);
  EXPECT_EQ(Post("/v1/sim/webhook", R"({"url":"http://127.0.0.1:1"})").status, 401);
  EXPECT_EQ(Control("/v1/sim/faults", R"({"speed":2})").status, 200);
}

}  // namespace
}  // namespace keel::sims
