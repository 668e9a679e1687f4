#include "commerce/orders.h"

#include <map>

#include "commerce/auth.h"
#include "commerce/order_state.h"
#include "commerce/validation.h"

namespace keel::commerce {
namespace {

using persistence::SqlRow;
using persistence::SqlRows;
using persistence::SqlTxn;

std::vector<std::string> Migrations(bool postgres) {
  return {
      "CREATE TABLE orders(order_id TEXT PRIMARY KEY, buyer_id TEXT NOT NULL, status TEXT NOT "
      "NULL, "
      "currency TEXT NOT NULL, subtotal BIGINT NOT NULL, shipping BIGINT NOT NULL, tax BIGINT NOT "
      "NULL, total BIGINT NOT NULL, cart_id TEXT NOT NULL, idempotency_key TEXT UNIQUE, "
      "workflow_id TEXT NOT NULL, shipping_address TEXT NOT NULL, created_at BIGINT NOT NULL, "
      "updated_at BIGINT NOT NULL, CHECK (total = subtotal + shipping + tax));"
      "CREATE INDEX orders_by_buyer ON orders(buyer_id, created_at DESC, order_id);"
      "CREATE INDEX orders_by_status ON orders(status);"
      "CREATE TABLE order_lines(order_id TEXT NOT NULL, item_id TEXT NOT NULL, quantity BIGINT NOT "
      "NULL CHECK (quantity > 0), unit_price BIGINT NOT NULL CHECK (unit_price >= 0), "
      "PRIMARY KEY(order_id, item_id));"
      "CREATE TABLE order_events(order_id TEXT NOT NULL, seq BIGINT NOT NULL, from_status TEXT NOT "
      "NULL, to_status TEXT NOT NULL, reason TEXT NOT NULL, at BIGINT NOT NULL, "
      "PRIMARY KEY(order_id, seq));"
      "CREATE TABLE bought_together(item_id TEXT NOT NULL, other_id TEXT NOT NULL, count BIGINT "
      "NOT NULL, PRIMARY KEY(item_id, other_id));",
      // Why the order is in its status (the last transition's reason), for lists.
      "ALTER TABLE orders ADD COLUMN status_reason TEXT NOT NULL DEFAULT '';",
      // Lines name their seller (the seller's order list); units sold per item and day.
      "ALTER TABLE order_lines ADD COLUMN seller_id TEXT NOT NULL DEFAULT '';"
      "CREATE INDEX order_lines_by_seller ON order_lines(seller_id, order_id);"
      "CREATE INDEX order_lines_by_item ON order_lines(item_id);"
      "CREATE TABLE item_sales(item_id TEXT NOT NULL, day BIGINT NOT NULL, units BIGINT NOT NULL, "
      "PRIMARY KEY(day, item_id));",
      // Units sold are counted from the inventory's stock events now (signals.h).
      "DROP TABLE item_sales;",
      // A promotion's discount: total = subtotal - discount + shipping + tax. SQLite
      // cannot change a CHECK in place, so its table is made again.
      postgres ? "ALTER TABLE orders ADD COLUMN discount BIGINT NOT NULL DEFAULT 0 CHECK "
                 "(discount >= 0 AND discount <= subtotal);"
                 "ALTER TABLE orders ADD COLUMN promo_code TEXT NOT NULL DEFAULT '';"
                 "ALTER TABLE orders DROP CONSTRAINT orders_check;"
                 "ALTER TABLE orders ADD CONSTRAINT orders_total CHECK (total = subtotal - "
                 "discount + shipping + tax);"
               : "CREATE TABLE orders_v2(order_id TEXT PRIMARY KEY, buyer_id TEXT NOT NULL, status "
                 "TEXT NOT NULL, currency TEXT NOT NULL, subtotal BIGINT NOT NULL, shipping BIGINT "
                 "NOT NULL, tax BIGINT NOT NULL, total BIGINT NOT NULL, cart_id TEXT NOT NULL, "
                 "idempotency_key TEXT UNIQUE, workflow_id TEXT NOT NULL, shipping_address TEXT "
                 "NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, "
                 "status_reason TEXT NOT NULL DEFAULT '', discount BIGINT NOT NULL DEFAULT 0 "
                 "CHECK (discount >= 0 AND discount <= subtotal), promo_code TEXT NOT NULL "
                 "DEFAULT '', CHECK (total = subtotal - discount + shipping + tax));"
                 "INSERT INTO orders_v2 SELECT order_id, buyer_id, status, currency, subtotal, "
                 "shipping, tax, total, cart_id, idempotency_key, workflow_id, shipping_address, "
                 "created_at, updated_at, status_reason, 0, '' FROM orders;"
                 "DROP TABLE orders;"
                 "ALTER TABLE orders_v2 RENAME TO orders;"
                 "CREATE INDEX orders_by_buyer ON orders(buyer_id, created_at DESC, order_id);"
                 "CREATE INDEX orders_by_status ON orders(status);",
  };
}

constexpr const char* kCols =
    "order_id, buyer_id, status, currency, subtotal, shipping, tax, total, cart_id, "
    "COALESCE(idempotency_key, ''), workflow_id, shipping_address, created_at, updated_at, "
    "status_reason, discount, promo_code";

Order ReadOrder(const SqlRow& r) {
  Order o;
  o.order_id = r.Text(0);
  o.buyer_id = r.Text(1);
  o.status = r.Text(2);
  o.currency = r.Text(3);
  o.subtotal = r.Int(4);
  o.shipping = r.Int(5);
  o.tax = r.Int(6);
  o.total = r.Int(7);
  o.cart_id = r.Text(8);
  o.idempotency_key = r.Text(9);
  o.workflow_id = r.Text(10);
  o.shipping_address = r.Text(11);
  o.created_at = r.Int(12);
  o.updated_at = r.Int(13);
  o.reason = r.Text(14);
  o.discount = r.Int(15);
  o.promo_code = r.Text(16);
  return o;
}

Status AddEvent(SqlTxn& t, const std::string& order_id, const std::string& from,
                const std::string& to, const std::string& reason, Millis at) {
  return t
      .Exec(
          "INSERT INTO order_events(order_id, seq, from_status, to_status, reason, at) "
          "SELECT CAST($1 AS TEXT), COALESCE(MAX(seq), 0) + 1, CAST($2 AS TEXT), "
          "CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS BIGINT) FROM order_events "
          "WHERE order_id = $1",
          {order_id, from, to, reason, at})
      .status();
}

}  // namespace

bool AddsUp(const Order& o) {
  return o.discount >= 0 && o.discount <= o.subtotal &&
         o.total == o.subtotal - o.discount + o.shipping + o.tax;
}

Result<std::unique_ptr<Orders>> Orders::Open(std::unique_ptr<persistence::SqlDatabase> db,
                                             Clock* clock) {
  KEEL_RETURN_IF_ERROR(db->Migrate(Migrations(db->postgres())));
  return std::unique_ptr<Orders>(new Orders(std::move(db), clock));
}

Result<Order> Orders::Create(Order order, bool* created) {
  KEEL_RETURN_IF_ERROR(CheckText("order_id", order.order_id, 1, 100));
  if (order.lines.empty()) return FieldError("lines", "an order needs at least one line");
  int64_t subtotal = 0;
  for (const auto& l : order.lines) subtotal += l.quantity * l.unit_price;
  if (subtotal != order.subtotal || !AddsUp(order)) {
    return FieldError("total", "must equal the lines less the discount plus shipping plus tax");
  }
  return Insert(std::move(order), "pending_payment", "created", created);
}

Result<Order> Orders::Reject(Order order, const std::string& reason) {
  KEEL_RETURN_IF_ERROR(CheckText("order_id", order.order_id, 1, 100));
  int64_t subtotal = 0;
  bool sane = true;
  for (const auto& l : order.lines) {
    sane = sane && l.quantity > 0 && l.unit_price >= 0 && l.quantity <= kMaxQuantity &&
           l.unit_price <= kMaxPriceMinor;
    if (sane) subtotal += l.quantity * l.unit_price;
  }
  if (!sane || subtotal != order.subtotal || !AddsUp(order)) {
    // What does not add up is not kept: the order shows no lines and no money.
    order.lines.clear();
    order.subtotal = order.discount = order.shipping = order.tax = order.total = 0;
    order.promo_code.clear();
  }
  return Insert(std::move(order), "rejected", reason, nullptr);
}

Result<Order> Orders::Insert(Order order, const std::string& status, const std::string& reason,
                             bool* created) {
  order.status = status;
  order.created_at = order.updated_at = clock_->Now();
  bool made = false;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    persistence::SqlValue key = order.idempotency_key.empty()
                                    ? persistence::SqlValue(nullptr)
                                    : persistence::SqlValue(order.idempotency_key);
    KEEL_ASSIGN_OR_RETURN(
        int64_t n,
        t.Exec(
            "INSERT INTO orders(order_id, buyer_id, status, currency, subtotal, shipping, tax, "
            "total, cart_id, idempotency_key, workflow_id, shipping_address, created_at, "
            "updated_at, status_reason, discount, promo_code) VALUES($1,$2,$3,$4,$5,$6,$7,$8,"
            "$9,$10,$11,$12,$13,$13,$14,$15,$16) ON CONFLICT DO NOTHING",
            {order.order_id, order.buyer_id, order.status, order.currency, order.subtotal,
             order.shipping, order.tax, order.total, order.cart_id, key, order.workflow_id,
             order.shipping_address, order.created_at, reason, order.discount, order.promo_code}));
    made = n == 1;
    if (!made) return Status::Ok();
    for (const auto& l : order.lines) {
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO order_lines(order_id, item_id, quantity, "
                 "unit_price, seller_id) VALUES($1,$2,$3,$4,$5)",
                 {order.order_id, l.item_id, l.quantity, l.unit_price, l.seller_id})
              .status());
    }
    return AddEvent(t, order.order_id, "", order.status, reason, order.created_at);
  }));
  if (created) *created = made;
  if (made) Changed(order.order_id);
  if (made) return Get(order.order_id);
  // Already there: by id, or by idempotency key.
  auto existing = Get(order.order_id);
  if (existing.ok() || order.idempotency_key.empty()) return existing;
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT order_id FROM orders WHERE "
                                              "idempotency_key = $1",
                                              {order.idempotency_key}));
  if (r.empty()) return Status::Internal("order insert conflicted but nothing is there");
  return Get(r[0].Text(0));
}

Status Orders::Transition(const std::string& order_id, const std::string& from,
                          const std::string& to, const std::string& reason) {
  if (!IsLegalTransition(from, to)) {
    return Status::FailedPrecondition("an order cannot go from " + from + " to " + to,
                                      "illegal_transition");
  }
  Status s = db_->Transact([&](SqlTxn& t) -> Status {
    const Millis now = clock_->Now();
    KEEL_ASSIGN_OR_RETURN(int64_t n,
                          t.Exec("UPDATE orders SET status = $3, updated_at = $4, "
                                 "status_reason = $5 WHERE order_id = $1 AND status = $2",
                                 {order_id, from, to, now, reason}));
    if (n == 0) {
      KEEL_ASSIGN_OR_RETURN(SqlRows r,
                            t.Query("SELECT status FROM orders WHERE order_id = $1", {order_id}));
      if (r.empty()) return Status::NotFound("no order " + order_id, "not_found");
      if (r[0].Text(0) == to) return Status::Ok();  // made before: idempotent
      return Status::FailedPrecondition(
          "order " + order_id + " is " + r[0].Text(0) + ", not " + from, "illegal_transition");
    }
    KEEL_RETURN_IF_ERROR(AddEvent(t, order_id, from, to, reason, now));
    if (to != "confirmed") return Status::Ok();
    // Every ordered pair of distinct items in this order, counted once.
    return t
        .Exec(
            "INSERT INTO bought_together(item_id, other_id, count) "
            "SELECT a.item_id, b.item_id, 1 FROM order_lines a JOIN order_lines b "
            "ON a.order_id = b.order_id AND a.item_id <> b.item_id WHERE a.order_id = $1 "
            "ON CONFLICT(item_id, other_id) DO UPDATE SET count = bought_together.count + 1",
            {order_id})
        .status();
  });
  if (s.ok()) Changed(order_id);
  return s;
}

void Orders::SetChangeHook(std::function<void(const std::string&)> hook) {
  std::lock_guard<std::mutex> l(hook_mu_);
  hook_ = std::move(hook);
}

void Orders::Changed(const std::string& order_id) {
  std::function<void(const std::string&)> hook;
  {
    std::lock_guard<std::mutex> l(hook_mu_);
    hook = hook_;
  }
  if (hook) hook(order_id);
}

Result<Order> Orders::Get(const std::string& order_id) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r,
      db_->Query(std::string("SELECT ") + kCols + " FROM orders WHERE order_id = $1", {order_id}));
  if (r.empty()) return Status::NotFound("no order " + order_id, "not_found");
  Order o = ReadOrder(r[0]);
  KEEL_ASSIGN_OR_RETURN(SqlRows lines,
                        db_->Query("SELECT item_id, quantity, unit_price FROM "
                                   "order_lines WHERE order_id = $1 ORDER BY item_id",
                                   {order_id}));
  for (const auto& l : lines) o.lines.push_back({l.Text(0), l.Int(1), l.Int(2)});
  KEEL_ASSIGN_OR_RETURN(SqlRows ev, db_->Query("SELECT from_status, to_status, reason, at FROM "
                                               "order_events WHERE order_id = $1 ORDER BY seq",
                                               {order_id}));
  for (const auto& e : ev) o.history.push_back({e.Text(0), e.Text(1), e.Text(2), e.Int(3)});
  if (o.reason.empty() && !o.history.empty()) o.reason = o.history.back().reason;
  return o;
}

Result<std::vector<Order>> Orders::ReadPage(const std::string& after_id, int limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query(std::string("SELECT ") + kCols +
                                                  " FROM orders WHERE order_id > $1 ORDER BY "
                                                  "order_id LIMIT $2",
                                              {after_id, int64_t{limit}}));
  std::vector<Order> out;
  for (const auto& row : r) out.push_back(ReadOrder(row));
  if (out.empty()) return out;
  const std::string last = out.back().order_id;
  std::map<std::string, Order*> by_id;
  for (auto& o : out) by_id[o.order_id] = &o;
  KEEL_ASSIGN_OR_RETURN(
      SqlRows lines, db_->Query("SELECT order_id, item_id, quantity, unit_price FROM order_lines "
                                "WHERE order_id > $1 AND order_id <= $2 ORDER BY order_id, "
                                "item_id",
                                {after_id, last}));
  for (const auto& l : lines) {
    if (auto it = by_id.find(l.Text(0)); it != by_id.end()) {
      it->second->lines.push_back({l.Text(1), l.Int(2), l.Int(3)});
    }
  }
  KEEL_ASSIGN_OR_RETURN(SqlRows ev, db_->Query("SELECT order_id, from_status, to_status, reason, "
                                               "at FROM order_events WHERE order_id > $1 AND "
                                               "order_id <= $2 ORDER BY order_id, seq",
                                               {after_id, last}));
  for (const auto& e : ev) {
    if (auto it = by_id.find(e.Text(0)); it != by_id.end()) {
      it->second->history.push_back({e.Text(1), e.Text(2), e.Text(3), e.Int(4)});
    }
  }
  for (auto& o : out) {
    if (o.reason.empty() && !o.history.empty()) o.reason = o.history.back().reason;
  }
  return out;
}

Result<std::vector<std::string>> Orders::IdsAfter(const std::string& after_id, int limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT order_id FROM orders WHERE order_id > $1 "
                                              "ORDER BY order_id LIMIT $2",
                                              {after_id, int64_t{limit}}));
  std::vector<std::string> ids;
  for (const auto& row : r) ids.push_back(row.Text(0));
  return ids;
}

Result<OrderPage> Orders::List(const std::string& buyer_id, const std::string& status,
                               const std::string& cursor, int size) {
  KEEL_RETURN_IF_ERROR(CheckRange("size", size, 1, 100));
  if (!status.empty() && !IsOrderStatus(status)) {
    return FieldError("status", "is not an order status");
  }
  return Page("buyer_id = $1 AND (CAST($2 AS TEXT) = '' OR status = $2)", {buyer_id, status},
              cursor, size);
}

Result<OrderPage> Orders::ListForSeller(const std::string& seller_id, const std::string& cursor,
                                        int size) {
  KEEL_RETURN_IF_ERROR(CheckRange("size", size, 1, 100));
  KEEL_ASSIGN_OR_RETURN(OrderPage page,
                        Page("order_id IN (SELECT order_id FROM order_lines WHERE seller_id = $1)",
                             {seller_id}, cursor, size));
  for (auto& o : page.orders) {
    KEEL_ASSIGN_OR_RETURN(SqlRows lines, db_->Query("SELECT item_id, quantity, unit_price FROM "
                                                    "order_lines WHERE order_id = $1 AND "
                                                    "seller_id = $2 ORDER BY item_id",
                                                    {o.order_id, seller_id}));
    for (const auto& l : lines) o.lines.push_back({l.Text(0), l.Int(1), l.Int(2), seller_id});
  }
  return page;
}

Result<OrderPage> Orders::Page(const std::string& where, persistence::SqlParams params,
                               const std::string& cursor, int size) {
  int64_t before_at = INT64_MAX;
  std::string before_id;
  if (!cursor.empty()) {
    auto raw = Base64UrlDecode(cursor);
    size_t bar = raw.ok() ? raw->find('|') : std::string::npos;
    if (bar == std::string::npos || cursor.size() > 300) {
      return Status::InvalidArgument("cursor is not one this list returned", "invalid_cursor");
    }
    before_at = std::strtoll(raw->substr(0, bar).c_str(), nullptr, 10);
    before_id = raw->substr(bar + 1);
  }
  const std::string at = "$" + std::to_string(params.size() + 1),
                    id = "$" + std::to_string(params.size() + 2),
                    limit = "$" + std::to_string(params.size() + 3);
  params.insert(params.end(), {before_at, before_id, static_cast<int64_t>(size + 1)});
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r,
      db_->Query(std::string("SELECT ") + kCols + " FROM orders WHERE " + where +
                     " AND (created_at < " + at + " OR (created_at = " + at + " AND order_id < " +
                     id + ")) ORDER BY created_at DESC, order_id DESC LIMIT " + limit,
                 params));
  OrderPage page;
  for (size_t i = 0; i < r.size() && static_cast<int>(i) < size; ++i) {
    page.orders.push_back(ReadOrder(r[i]));
  }
  if (static_cast<int>(r.size()) > size) {
    const Order& last = page.orders.back();
    page.next_cursor = Base64UrlEncode(std::to_string(last.created_at) + "|" + last.order_id);
  }
  return page;
}

Result<bool> Orders::HasDelivered(const std::string& buyer_id, const std::string& item_id) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r, db_->Query("SELECT 1 FROM orders o JOIN order_lines l ON l.order_id = o.order_id "
                            "WHERE o.buyer_id = $1 AND l.item_id = $2 AND EXISTS (SELECT 1 FROM "
                            "order_events e WHERE e.order_id = o.order_id AND e.to_status = "
                            "'delivered') LIMIT 1",
                            {buyer_id, item_id}));
  return !r.empty();
}

Result<std::vector<std::string>> Orders::ItemsBoughtBy(const std::string& buyer_id) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r, db_->Query("SELECT DISTINCT l.item_id FROM orders o JOIN order_lines l ON "
                            "l.order_id = o.order_id WHERE o.buyer_id = $1 AND o.status NOT IN "
                            "('rejected', 'payment_failed', 'expired', 'cancelled') ORDER BY "
                            "l.item_id LIMIT 1000",
                            {buyer_id}));
  std::vector<std::string> out;
  for (const auto& row : r) out.push_back(row.Text(0));
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> Orders::BoughtTogether(
    const std::string& item_id, int limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT other_id, count FROM bought_together WHERE "
                                              "item_id = $1 ORDER BY count DESC, other_id LIMIT $2",
                                              {item_id, static_cast<int64_t>(limit)}));
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& row : r) out.emplace_back(row.Text(0), row.Int(1));
  return out;
}

}  // namespace keel::commerce
