// The audit on both stores: a clean shop passes, and each invariant of SPEC section 7,
// planted as a violation in real databases (the shop's, the engine store, the
// gateway's ledger), is reported with the ids involved.

#include "audit/audit.h"

#include <gtest/gtest.h>

#include "audit/repair.h"
#include "common/temp_dir.h"
#include "engine/payload.h"
#include "sims/payments/payments_sim.h"
#include "tests/testing/backends.h"
#include "workflows/commerce_workflows.h"

namespace keel::audit {
namespace {

constexpr Millis kWindow = 60'000;

class AuditTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    auto shop = commerce::Shop::Open(backend_->url(), &clock_);
    ASSERT_TRUE(shop.ok()) << shop.status().ToString();
    shop_ = std::move(shop).value();
    auto store = backend_->Open(&clock_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ledger_dir_.emplace(TempDir::Create("keel-audit-ledger").value());
    auto ledger = persistence::OpenSqlDatabase("sqlite:" + ledger_dir_->path(), "payments_sim", {});
    ASSERT_TRUE(ledger.ok());
    auto sim = sims::PaymentsSim::Open(std::move(ledger).value(), &clock_, {});
    ASSERT_TRUE(sim.ok()) << sim.status().ToString();  // makes the ledger's schema
    ledger_ =
        persistence::OpenSqlDatabase("sqlite:" + ledger_dir_->path(), "payments_sim", {}).value();
    inventory_db_ = persistence::OpenSqlDatabase(backend_->url(), "inventory", {}).value();
    orders_db_ = persistence::OpenSqlDatabase(backend_->url(), "orders", {}).value();
    ASSERT_TRUE(shop_->inventory().Restock("sku-a", 10, "r-a").ok());
    // A clean, confirmed order: held, committed, paid, notified, with its checkout.
    Confirmed("ord-ok", "cart-ok", 2, 1000);
  }

  commerce::Order Order(const std::string& id, const std::string& cart, int64_t qty,
                        int64_t price) {
    commerce::Order o;
    o.order_id = id;
    o.buyer_id = "ann";
    o.currency = "USD";
    o.cart_id = cart;
    o.workflow_id = workflows::CheckoutWorkflowId(id);
    o.lines = {{"sku-a", qty, price}};
    o.subtotal = o.total = qty * price;
    return o;
  }
  // The checkout run of `order_id`, whose snapshot has the line `qty` x `price`.
  void Checkout(const std::string& order_id, int64_t qty, int64_t price,
                persistence::ExecutionStatus status, const json::value& result) {
    persistence::ExecutionRow r;
    r.workflow_id = workflows::CheckoutWorkflowId(order_id);
    r.run_id = "run-" + order_id;
    r.workflow_type = workflows::kCheckoutWorkflow;
    r.task_queue = kDefaultWorkflowQueue;
    r.status = status;
    r.version = 1;
    r.next_event_id = 2;
    r.start_time = clock_.Now();
    r.result = ToPayload(result).SerializeAsString();
    proto::HistoryEvent e;
    e.set_event_id(1);
    auto* st = e.mutable_workflow_execution_started();
    st->set_workflow_type(workflows::kCheckoutWorkflow);
    st->set_workflow_id(r.workflow_id);
    st->set_run_id(r.run_id);
    json::value input = json::object{
        {"order_id", order_id},
        {"buyer_id", "ann"},
        {"lines", json::array{json::object{
                      {"item_id", "sku-a"}, {"quantity", qty}, {"unit_price", price}}}}};
    *st->mutable_input() = ToPayload(input);
    ASSERT_TRUE(store_
                    ->Transact([&](persistence::Txn& t) -> Status {
                      KEEL_RETURN_IF_ERROR(t.InsertExecution(r));
                      return t.AppendHistory(r.run_id, {e});
                    })
                    .ok());
  }
  void Intent(const std::string& id, const std::string& order_id, const std::string& status,
              int64_t received, int64_t refunded = 0) {
    static int64_t seq = 0;
    ASSERT_TRUE(ledger_
                    ->Transact([&](persistence::SqlTxn& t) {
                      return t
                          .Exec(
                              "INSERT INTO intents(id, seq, amount, currency, payment_method, "
                              "capture_method, status, amount_received, amount_refunded, "
                              "metadata, created) VALUES($1,$2,$3,'usd','pm_card_visa',"
                              "'automatic',$4,$5,$6,$7,1)",
                              {id, ++seq, received, status, received, refunded,
                               json::serialize(json::object{{"order_id", order_id}})})
                          .status();
                    })
                    .ok());
  }
  void Notify(const std::string& order_id, const std::string& event_id) {
    ASSERT_TRUE(shop_->notifications()
                    .Add({event_id, "ann", order_id, "order_confirmed", "confirmed", 0})
                    .ok());
  }
  void Confirmed(const std::string& id, const std::string& cart, int64_t qty, int64_t price) {
    ASSERT_TRUE(shop_->orders().Create(Order(id, cart, qty, price)).ok());
    ASSERT_TRUE(shop_->inventory().Reserve({{id + "/sku-a", "sku-a", qty}}, id, kWindow).ok());
    ASSERT_TRUE(shop_->inventory().Commit(id + "/sku-a").ok());
    ASSERT_TRUE(shop_->orders().Transition(id, "pending_payment", "confirmed", "paid").ok());
    Intent("pi_" + id, id, "succeeded", qty * price);
    Notify(id, id + "/order_confirmed");
    Checkout(id, qty, price, persistence::ExecutionStatus::kCompleted,
             json::object{{"order_id", id}, {"status", "confirmed"}});
  }

  std::vector<Violation> Violations() {
    AuditOptions o;
    o.payments_ledger_dir = ledger_dir_->path();
    o.engine = store_.get();
    o.payment_window_ms = kWindow;
    o.liveness_bound_ms = 10'000;
    auto v = audit::Run(*shop_, o);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v.value() : std::vector<Violation>{};
  }
  // Whether the audit reports invariant `n` about `subject`.
  ::testing::AssertionResult Reports(int n, const std::string& subject) {
    std::string all;
    for (const auto& v : Violations()) {
      if (v.invariant == n && v.subject == subject) return ::testing::AssertionSuccess();
      all += ToString(v) + "\n";
    }
    return ::testing::AssertionFailure()
           << "no invariant " << n << " about " << subject << "; reported:\n"
           << all;
  }

  FakeClock clock_{1'795'000'000'000};
  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<commerce::Shop> shop_;
  std::unique_ptr<persistence::Store> store_;
  std::optional<TempDir> ledger_dir_;
  std::unique_ptr<persistence::SqlDatabase> ledger_, inventory_db_, orders_db_;
};

TEST_P(AuditTest, ACleanShopPasses) {
  auto v = Violations();
  for (const auto& x : v) ADD_FAILURE() << ToString(x);
}

TEST_P(AuditTest, Invariant1HoldsPastOnHand) {
  ASSERT_TRUE(inventory_db_
                  ->Transact([&](persistence::SqlTxn& t) {
                    return t
                        .Exec(
                            "INSERT INTO holds(hold_id, sku, quantity, expires_at, state, "
                            "order_id, created_at, updated_at) VALUES('h-big','sku-a',50,$1,"
                            "'active','ord-x',0,0)",
                            {clock_.Now() + kWindow})
                        .status();
                  })
                  .ok());
  EXPECT_TRUE(Reports(1, "sku-a"));
}

TEST_P(AuditTest, Invariant2Oversell) {
  // 50 units of a SKU only ever stocked with 10, confirmed without holding them.
  ASSERT_TRUE(shop_->orders().Create(Order("ord-big", "cart-big", 50, 10)).ok());
  ASSERT_TRUE(shop_->orders().Transition("ord-big", "pending_payment", "confirmed", "paid").ok());
  Intent("pi_big", "ord-big", "succeeded", 500);
  Notify("ord-big", "ord-big/order_confirmed");
  Checkout("ord-big", 50, 10, persistence::ExecutionStatus::kCompleted, json::object{});
  EXPECT_TRUE(Reports(2, "sku-a"));
}

TEST_P(AuditTest, Invariant3PaymentWithoutAnOrderItCanKeep) {
  ASSERT_TRUE(shop_->orders().Create(Order("ord-failed", "cart-f", 1, 1000)).ok());
  ASSERT_TRUE(shop_->orders()
                  .Transition("ord-failed", "pending_payment", "payment_failed", "declined")
                  .ok());
  Checkout("ord-failed", 1, 1000, persistence::ExecutionStatus::kCompleted,
           json::object{{"status", "payment_failed"}});
  Intent("pi_kept", "ord-failed", "succeeded", 1000);  // charged, never refunded
  EXPECT_TRUE(Reports(3, "pi_kept"));
  Intent("pi_second", "ord-ok", "succeeded", 2000);  // a second charge of one order
  EXPECT_TRUE(Reports(3, "ord-ok"));
  Intent("pi_over", "ord-ok", "canceled", 100, 200);  // refunded more than received
  EXPECT_TRUE(Reports(3, "pi_over"));
}

TEST_P(AuditTest, Invariant4ConfirmedWithoutItsPayment) {
  ASSERT_TRUE(shop_->orders().Create(Order("ord-free", "cart-free", 1, 1000)).ok());
  ASSERT_TRUE(
      shop_->inventory().Reserve({{"ord-free/sku-a", "sku-a", 1}}, "ord-free", kWindow).ok());
  ASSERT_TRUE(shop_->inventory().Commit("ord-free/sku-a").ok());
  ASSERT_TRUE(shop_->orders().Transition("ord-free", "pending_payment", "confirmed", "?").ok());
  Notify("ord-free", "ord-free/order_confirmed");
  Checkout("ord-free", 1, 1000, persistence::ExecutionStatus::kCompleted, json::object{});
  Intent("pi_short", "ord-free", "succeeded", 999);  // a cent short
  EXPECT_TRUE(Reports(4, "ord-free"));
}

TEST_P(AuditTest, Invariant5PendingPastItsWindow) {
  ASSERT_TRUE(shop_->orders().Create(Order("ord-stuck", "cart-s", 1, 1000)).ok());
  Checkout("ord-stuck", 1, 1000, persistence::ExecutionStatus::kRunning, nullptr);
  clock_.Advance(kWindow + 11'000);
  EXPECT_TRUE(Reports(5, "ord-stuck"));
}

TEST_P(AuditTest, Invariant6AHoldLeftBehind) {
  ASSERT_TRUE(shop_->inventory().Reserve({{"ord-ok/extra", "sku-a", 1}}, "ord-ok", kWindow).ok());
  EXPECT_TRUE(Reports(6, "ord-ok/extra"));
}

TEST_P(AuditTest, Invariant7TwoOrdersOfOneCartAtOnce) {
  ASSERT_TRUE(shop_->orders().Create(Order("ord-c1", "cart-twice", 1, 1000)).ok());
  Checkout("ord-c1", 1, 1000, persistence::ExecutionStatus::kRunning, nullptr);
  clock_.Advance(5);
  ASSERT_TRUE(shop_->orders().Create(Order("ord-c2", "cart-twice", 1, 1000)).ok());
  Checkout("ord-c2", 1, 1000, persistence::ExecutionStatus::kRunning, nullptr);
  EXPECT_TRUE(Reports(7, "ord-c2"));
}

TEST_P(AuditTest, Invariant8AnIllegalTransition) {
  ASSERT_TRUE(orders_db_
                  ->Transact([&](persistence::SqlTxn& t) -> Status {
                    KEEL_RETURN_IF_ERROR(
                        t.Exec("UPDATE orders SET status = 'pending_payment' WHERE order_id = "
                               "'ord-ok'")
                            .status());
                    return t
                        .Exec(
                            "INSERT INTO order_events(order_id, seq, from_status, to_status, "
                            "reason, at) VALUES('ord-ok', 99, 'confirmed', 'pending_payment', "
                            "'bug', 1)")
                        .status();
                  })
                  .ok());
  EXPECT_TRUE(Reports(8, "ord-ok"));
}

TEST_P(AuditTest, Invariant9ATwiceConfirmedNotification) {
  Notify("ord-ok", "ord-ok/order_confirmed/again");
  EXPECT_TRUE(Reports(9, "ord-ok"));
}

TEST_P(AuditTest, Invariant10PricesOffTheSnapshot) {
  ASSERT_TRUE(shop_->inventory().Restock("sku-a", 10, "r-b").ok());
  ASSERT_TRUE(shop_->orders().Create(Order("ord-cheap", "cart-cheap", 1, 900)).ok());
  ASSERT_TRUE(
      shop_->inventory().Reserve({{"ord-cheap/sku-a", "sku-a", 1}}, "ord-cheap", kWindow).ok());
  Checkout("ord-cheap", 1, 1000, persistence::ExecutionStatus::kRunning, nullptr);  // 10.00 seen
  EXPECT_TRUE(Reports(10, "ord-cheap"));
  // And a total that is not lines + shipping + tax.
  ASSERT_TRUE(orders_db_
                  ->Transact([&](persistence::SqlTxn& t) {
                    return t.Exec("UPDATE order_lines SET unit_price = 1 WHERE order_id = 'ord-ok'")
                        .status();
                  })
                  .ok());
  EXPECT_TRUE(Reports(10, "ord-ok"));
}

TEST_P(AuditTest, Invariant12ACheckoutWithoutItsOrder) {
  Checkout("ord-ghost", 1, 1000, persistence::ExecutionStatus::kCompleted,
           json::object{{"status", "confirmed"}});
  EXPECT_TRUE(Reports(12, "ord-ghost"));
  // A saga recorded before orders came first closed "rejected" without one: fine.
  Checkout("ord-old-rejected", 1, 1000, persistence::ExecutionStatus::kCompleted,
           json::object{{"status", "rejected"}, {"reason", "insufficient_stock"}});
  for (const auto& v : Violations()) EXPECT_NE(v.subject, "ord-old-rejected") << ToString(v);
}

TEST_P(AuditTest, Invariant11AnOverRedeemedPromotionAndAKeptRedemption) {
  commerce::Promotion p;
  p.code = "SAVE1";
  p.amount_off = 100;
  p.currency = "USD";
  p.max_redemptions = 1;
  ASSERT_TRUE(shop_->promotions().Create(p).ok());
  // Two paid orders with the discount; the second got its redemption past the limit.
  for (const std::string id : {"ord-p1", "ord-p2"}) {
    commerce::Order o = Order(id, "cart-" + id, 1, 1000);
    o.discount = 100;
    o.promo_code = "SAVE1";
    o.total = 900;
    ASSERT_TRUE(shop_->orders().Create(o).ok());
    ASSERT_TRUE(shop_->orders().Transition(id, "pending_payment", "confirmed", "paid").ok());
  }
  ASSERT_TRUE(shop_->promotions().Reserve("ord-p1", "SAVE1", "ann", 100).ok());
  EXPECT_EQ(shop_->promotions().Reserve("ord-p2", "SAVE1", "ann", 100).reason(), "promo_exhausted");
  EXPECT_TRUE(Reports(11, "ord-p2"));  // a discount with no redemption
  auto promotions_db = persistence::OpenSqlDatabase(backend_->url(), "promotions", {}).value();
  ASSERT_TRUE(promotions_db
                  ->Transact([&](persistence::SqlTxn& t) -> Status {
                    KEEL_RETURN_IF_ERROR(
                        t.Exec("INSERT INTO redemptions(order_id, code, buyer_id, amount, state, "
                               "created_at, updated_at) VALUES('ord-p2','SAVE1','ann',100,"
                               "'redeemed',0,0)")
                            .status());
                    return t.Exec("UPDATE promotions SET redeemed = 2").status();
                  })
                  .ok());
  EXPECT_TRUE(Reports(11, "SAVE1"));
  // An order that never went through keeps its redemption.
  p.code = "SAVE2";
  p.max_redemptions = 0;
  ASSERT_TRUE(shop_->promotions().Create(p).ok());
  commerce::Order failed = Order("ord-p3", "cart-p3", 1, 1000);
  failed.discount = 100;
  failed.promo_code = "SAVE2";
  failed.total = 900;
  ASSERT_TRUE(shop_->orders().Create(failed).ok());
  ASSERT_TRUE(shop_->promotions().Reserve("ord-p3", "SAVE2", "ann", 100).ok());
  ASSERT_TRUE(
      shop_->orders().Transition("ord-p3", "pending_payment", "payment_failed", "declined").ok());
  EXPECT_TRUE(Reports(11, "ord-p3"));
  ASSERT_TRUE(shop_->promotions().Release("ord-p3").ok());  // what the compensation does
  for (const auto& v : Violations()) EXPECT_NE(v.subject, "ord-p3") << ToString(v);
}

// --repair marks expired holds and starts the expiry of an order whose saga ended.
TEST_P(AuditTest, RepairStartsTheExpiryOfAnOrphanedOrder) {
  ASSERT_TRUE(shop_->orders().Create(Order("ord-orphan", "cart-o", 1, 1000)).ok());
  ASSERT_TRUE(
      shop_->inventory().Reserve({{"ord-orphan/sku-a", "sku-a", 1}}, "ord-orphan", 1000).ok());
  Checkout("ord-orphan", 1, 1000, persistence::ExecutionStatus::kTerminated, nullptr);
  clock_.Advance(kWindow + 11'000);
  AuditOptions o;
  o.payment_window_ms = kWindow;
  o.liveness_bound_ms = 10'000;
  auto done = Repair(*shop_, *store_, o);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  std::string all;
  for (const auto& l : *done) all += l + "\n";
  EXPECT_NE(all.find("expired holds"), std::string::npos) << all;
  EXPECT_NE(all.find("started " + workflows::OrderExpiryWorkflowId("ord-orphan")),
            std::string::npos)
      << all;
  auto run = store_->ReadCurrentExecution(workflows::OrderExpiryWorkflowId("ord-orphan"));
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->workflow_type, workflows::kOrderExpiryWorkflow);
  // Twice is harmless.
  auto again = Repair(*shop_, *store_, o);
  ASSERT_TRUE(again.ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel::audit
