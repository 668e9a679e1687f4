#include "commerce/cart.h"

#include <algorithm>
#include <map>

#include "commerce/validation.h"
#include "common/ids.h"

namespace keel::commerce {
namespace {

using persistence::SqlRows;
using persistence::SqlTxn;

const std::vector<std::string> kMigrations = {
    "CREATE TABLE carts(cart_id TEXT PRIMARY KEY, user_id TEXT UNIQUE, created_at BIGINT NOT "
    "NULL, updated_at BIGINT NOT NULL);"
    "CREATE TABLE cart_lines(cart_id TEXT NOT NULL, item_id TEXT NOT NULL, quantity BIGINT NOT "
    "NULL CHECK (quantity > 0), unit_price BIGINT NOT NULL, currency TEXT NOT NULL, added_at "
    "BIGINT NOT NULL, PRIMARY KEY(cart_id, item_id));"
    "CREATE TABLE wishlist(user_id TEXT NOT NULL, item_id TEXT NOT NULL, added_at BIGINT NOT "
    "NULL, PRIMARY KEY(user_id, item_id));",
    // Orders whose lines were taken out of their cart (RemoveOrdered runs once each).
    "CREATE TABLE cart_orders(order_id TEXT PRIMARY KEY, cart_id TEXT NOT NULL, at BIGINT NOT "
    "NULL);"
    "CREATE INDEX cart_orders_age ON cart_orders(at);"
    "CREATE INDEX carts_guest_age ON carts(updated_at) WHERE user_id IS NULL;",
    // Who waits for an item (back in stock).
    "CREATE INDEX wishlist_by_item ON wishlist(item_id);",
    // The promotion code applied to a cart.
    "CREATE TABLE cart_promos(cart_id TEXT PRIMARY KEY, code TEXT NOT NULL);",
    // The tables of charges (charges.h).
    "CREATE TABLE tax_rates(country TEXT NOT NULL, region TEXT NOT NULL, rate_bp BIGINT NOT "
    "NULL, PRIMARY KEY(country, region));"
    "CREATE TABLE shipping_rates(currency TEXT PRIMARY KEY, fee BIGINT NOT NULL, free_from "
    "BIGINT NOT NULL);",
};

// A guest cart id: its only credential, so 128 bits from the CSPRNG.
std::string NewGuestCartId() { return "cart_" + NewSecretHex(16); }

Status NoCart(const std::string& id) { return Status::NotFound("no cart " + id, "cart_not_found"); }

}  // namespace

Result<std::unique_ptr<Carts>> Carts::Open(std::unique_ptr<persistence::SqlDatabase> db,
                                           Catalog* catalog, Inventory* inventory,
                                           Promotions* promotions, Clock* clock) {
  KEEL_RETURN_IF_ERROR(db->Migrate(kMigrations));
  return std::unique_ptr<Carts>(new Carts(std::move(db), catalog, inventory, promotions, clock));
}

Result<std::string> Carts::CreateGuestCart() {
  std::string id = NewGuestCartId();
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) {
    return t
        .Exec(
            "INSERT INTO carts(cart_id, user_id, created_at, updated_at) VALUES($1, NULL, $2, "
            "$2)",
            {id, clock_->Now()})
        .status();
  }));
  return id;
}

Result<std::string> Carts::CartOfUser(const std::string& user_id) {
  std::string id;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO carts(cart_id, user_id, created_at, updated_at) "
                                "VALUES($1, $2, $3, $3) ON CONFLICT(user_id) DO NOTHING",
                                {NewRandomUuid(), user_id, clock_->Now()})
                             .status());
    KEEL_ASSIGN_OR_RETURN(SqlRows r,
                          t.Query("SELECT cart_id FROM carts WHERE user_id = $1", {user_id}));
    id = r.at(0).Text(0);
    return Status::Ok();
  }));
  return id;
}

Status Carts::CheckGuestCart(const std::string& cart_id) {
  if (cart_id.empty() || cart_id.size() > 64) return NoCart(cart_id.substr(0, 64));
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT 1 FROM carts WHERE cart_id = $1 AND "
                                              "user_id IS NULL",
                                              {cart_id}));
  return r.empty() ? NoCart(cart_id) : Status::Ok();
}

Result<LineChange> Carts::SetLine(const std::string& cart_id, const std::string& item_id,
                                  int64_t quantity) {
  KEEL_RETURN_IF_ERROR(CheckRange("quantity", quantity, 0, kMaxCartLineQuantity));
  KEEL_RETURN_IF_ERROR(CheckText("itemId", item_id, 1, 64));
  if (quantity == 0) {
    KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
      KEEL_RETURN_IF_ERROR(
          t.Exec("DELETE FROM cart_lines WHERE cart_id = $1 AND item_id = $2", {cart_id, item_id})
              .status());
      return t.Exec("UPDATE carts SET updated_at = $2 WHERE cart_id = $1", {cart_id, clock_->Now()})
          .status();
    }));
    return LineChange{};
  }
  auto item = catalog_->Get(item_id);
  if (!item.ok()) {
    if (item.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("no item " + item_id, "item_not_found");
    }
    return item.status();
  }
  if (item->status != "active") {
    return Status::FailedPrecondition("item " + item_id + " is not for sale", "item_unavailable");
  }
  KEEL_ASSIGN_OR_RETURN(StockLevel level, inventory_->Level(item_id));
  if (level.available < quantity) {
    return Status::FailedPrecondition(
        "only " + std::to_string(level.available) + " of item " + item_id + " in stock",
        "insufficient_stock");
  }
  LineChange change;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    change = LineChange{};
    KEEL_ASSIGN_OR_RETURN(SqlRows c, t.Query("SELECT 1 FROM carts WHERE cart_id = $1", {cart_id}));
    if (c.empty()) return NoCart(cart_id);
    KEEL_ASSIGN_OR_RETURN(
        SqlRows other, t.Query("SELECT currency, COUNT(*) FROM cart_lines WHERE cart_id = $1 AND "
                               "item_id <> $2 GROUP BY currency",
                               {cart_id, item_id}));
    int64_t lines = 0;
    for (const auto& r : other) {
      lines += r.Int(1);
      if (r.Text(0) != item->currency) {
        return Status::FailedPrecondition(
            "the cart holds " + r.Text(0) + " items; this one is " + item->currency,
            "currency_mismatch");
      }
    }
    if (lines >= static_cast<int64_t>(kMaxCartLines)) {
      return Status::FailedPrecondition("a cart holds at most 100 lines", "cart_full");
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows mine, t.Query("SELECT quantity, unit_price FROM cart_lines "
                                                "WHERE cart_id = $1 AND item_id = $2",
                                                {cart_id, item_id}));
    // The snapshot stays while the quantity does not rise; more units take today's price.
    int64_t price = item->price;
    if (!mine.empty() && quantity <= mine[0].Int(0)) price = mine[0].Int(1);
    if (!mine.empty() && price != mine[0].Int(1)) {
      change = LineChange{true, mine[0].Int(1), price};
    }
    KEEL_RETURN_IF_ERROR(
        t.Exec("INSERT INTO cart_lines(cart_id, item_id, quantity, unit_price, currency, "
               "added_at) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT(cart_id, item_id) DO UPDATE SET "
               "quantity = excluded.quantity, unit_price = excluded.unit_price",
               {cart_id, item_id, quantity, price, item->currency, clock_->Now()})
            .status());
    return t.Exec("UPDATE carts SET updated_at = $2 WHERE cart_id = $1", {cart_id, clock_->Now()})
        .status();
  }));
  return change;
}

Result<CartView> Carts::Get(const std::string& cart_id, const Destination& to) {
  KEEL_ASSIGN_OR_RETURN(SqlRows c, db_->Query("SELECT 1 FROM carts WHERE cart_id = $1", {cart_id}));
  if (c.empty()) return NoCart(cart_id);
  KEEL_ASSIGN_OR_RETURN(SqlRows r,
                        db_->Query("SELECT item_id, quantity, unit_price, currency FROM cart_lines "
                                   "WHERE cart_id = $1 ORDER BY added_at, item_id",
                                   {cart_id}));
  CartView v;
  v.cart_id = cart_id;
  for (const auto& row : r) {
    CartLine l;
    l.item_id = row.Text(0);
    l.quantity = row.Int(1);
    l.unit_price = row.Int(2);
    l.currency = row.Text(3);
    auto item = catalog_->Get(l.item_id);
    if (item.ok()) {
      l.name = item->name;
      l.seller_id = item->seller_id;
      l.current_price = item->price;
      l.price_changed = item->price != l.unit_price;
      l.available = item->status == "active";
    } else if (item.status().code() == StatusCode::kNotFound) {
      l.current_price = l.unit_price;
      l.available = false;
    } else {
      return item.status();
    }
    v.subtotal += l.quantity * l.unit_price;
    v.currency = l.currency;
    v.lines.push_back(std::move(l));
  }
  KEEL_RETURN_IF_ERROR(Price(&v, to));
  return v;
}

Status Carts::Price(CartView* v, const Destination& to) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows p, db_->Query("SELECT code FROM cart_promos WHERE cart_id = $1", {v->cart_id}));
  v->discount = 0;
  if (!p.empty()) {
    v->promo_code = p[0].Text(0);
    auto promo = promotions_->Get(v->promo_code);
    if (!promo.ok() && promo.status().code() != StatusCode::kNotFound) return promo.status();
    std::vector<PricedLine> lines;
    for (const auto& l : v->lines) lines.push_back({l.seller_id, l.quantity * l.unit_price});
    Discount d = promo.ok() ? DiscountFor(*promo, lines, v->currency, clock_->Now())
                            : Discount{0, "promo_not_found"};
    v->discount = d.amount;
    v->promo_why_not = d.why_not;
  }
  const int64_t goods = v->subtotal - v->discount;
  KEEL_ASSIGN_OR_RETURN(Charges c, charges_.For(goods, v->currency, to));
  v->shipping = c.shipping;
  v->tax = c.tax;
  v->tax_rate_bp = c.tax_rate_bp;
  v->destination = to;
  v->total = goods + v->shipping + v->tax;
  return Status::Ok();
}

Status Carts::SetPromo(const std::string& cart_id, const Promotion& promo) {
  KEEL_ASSIGN_OR_RETURN(CartView v, Get(cart_id));
  std::vector<PricedLine> lines;
  for (const auto& l : v.lines) lines.push_back({l.seller_id, l.quantity * l.unit_price});
  Discount d = DiscountFor(promo, lines, v.currency, clock_->Now());
  if (!d.why_not.empty()) {
    return Status::FailedPrecondition(d.why_not, "promo_not_applicable");
  }
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO cart_promos(cart_id, code) VALUES($1,$2) ON "
                                "CONFLICT(cart_id) DO UPDATE SET code = excluded.code",
                                {cart_id, promo.code})
                             .status());
    return t.Exec("UPDATE carts SET updated_at = $2 WHERE cart_id = $1", {cart_id, clock_->Now()})
        .status();
  }));
  return Status::Ok();
}

Status Carts::ClearPromo(const std::string& cart_id) {
  return db_->Transact([&](SqlTxn& t) {
    return t.Exec("DELETE FROM cart_promos WHERE cart_id = $1", {cart_id}).status();
  });
}

Status Carts::Clear(const std::string& cart_id) {
  return db_->Transact([&](SqlTxn& t) {
    return t.Exec("DELETE FROM cart_lines WHERE cart_id = $1", {cart_id}).status();
  });
}

Status Carts::RemoveOrdered(const std::string& cart_id, const std::string& order_id,
                            const std::vector<OrderedLine>& lines) {
  return db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(int64_t first,
                          t.Exec("INSERT INTO cart_orders(order_id, cart_id, at) VALUES($1,$2,$3) "
                                 "ON CONFLICT(order_id) DO NOTHING",
                                 {order_id, cart_id, clock_->Now()}));
    if (first == 0) return Status::Ok();  // taken out before
    for (const auto& l : lines) {
      KEEL_RETURN_IF_ERROR(t.Exec("DELETE FROM cart_lines WHERE cart_id = $1 AND item_id = $2 "
                                  "AND quantity <= $3",
                                  {cart_id, l.item_id, l.quantity})
                               .status());
      KEEL_RETURN_IF_ERROR(t.Exec("UPDATE cart_lines SET quantity = quantity - $3 WHERE cart_id "
                                  "= $1 AND item_id = $2 AND quantity > $3",
                                  {cart_id, l.item_id, l.quantity})
                               .status());
    }
    return Status::Ok();
  });
}

Result<Carts::Activity> Carts::LastActivity(const std::string& cart_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r,
                        db_->Query("SELECT c.updated_at, (SELECT COALESCE(SUM(quantity), 0) FROM "
                                   "cart_lines l WHERE l.cart_id = c.cart_id) FROM carts c WHERE "
                                   "c.cart_id = $1",
                                   {cart_id}));
  if (r.empty()) return Activity{};
  return Activity{r[0].Int(1), r[0].Int(0)};
}

Result<int64_t> Carts::PruneGuestCarts(Millis idle_ms) {
  const Millis before = clock_->Now() - idle_ms;
  int64_t pruned = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    for (const char* table : {"cart_lines", "cart_promos"}) {
      KEEL_RETURN_IF_ERROR(t.Exec(std::string("DELETE FROM ") + table +
                                      " WHERE cart_id IN (SELECT cart_id FROM carts WHERE "
                                      "user_id IS NULL AND updated_at < $1)",
                                  {before})
                               .status());
    }
    KEEL_ASSIGN_OR_RETURN(
        pruned, t.Exec("DELETE FROM carts WHERE user_id IS NULL AND updated_at < $1", {before}));
    // Records of taken-out orders only matter while a saga might retry.
    return t.Exec("DELETE FROM cart_orders WHERE at < $1", {before}).status();
  }));
  return pruned;
}

Result<CartView> Carts::Merge(const std::string& guest_cart_id, const std::string& user_id) {
  KEEL_RETURN_IF_ERROR(CheckGuestCart(guest_cart_id));
  KEEL_ASSIGN_OR_RETURN(std::string user_cart, CartOfUser(user_id));
  KEEL_ASSIGN_OR_RETURN(
      SqlRows guest,
      db_->Query("SELECT item_id, quantity FROM cart_lines WHERE cart_id = $1", {guest_cart_id}));
  // Stock caps, read first (a soft check, as when adding).
  std::map<std::string, int64_t> cap;
  for (const auto& g : guest) {
    KEEL_ASSIGN_OR_RETURN(StockLevel level, inventory_->Level(g.Text(0)));
    cap[g.Text(0)] = std::min<int64_t>(level.available, kMaxCartLineQuantity);
  }
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(SqlRows g, t.Query("SELECT item_id, quantity, unit_price, currency, "
                                             "added_at FROM cart_lines WHERE cart_id = $1",
                                             {guest_cart_id}));
    for (const auto& line : g) {
      const std::string item_id = line.Text(0);
      KEEL_ASSIGN_OR_RETURN(SqlRows mine, t.Query("SELECT quantity FROM cart_lines WHERE cart_id "
                                                  "= $1 AND item_id = $2",
                                                  {user_cart, item_id}));
      int64_t want = line.Int(1) + (mine.empty() ? 0 : mine[0].Int(0));
      int64_t capped = std::min(want, cap.count(item_id) ? cap[item_id] : 0);
      if (capped <= 0) {
        KEEL_RETURN_IF_ERROR(t.Exec("DELETE FROM cart_lines WHERE cart_id = $1 AND item_id = $2",
                                    {user_cart, item_id})
                                 .status());
        continue;
      }
      // The user's own line keeps its price snapshot; a new line takes the guest's.
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO cart_lines(cart_id, item_id, quantity, unit_price, currency, "
                 "added_at) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT(cart_id, item_id) DO UPDATE "
                 "SET quantity = excluded.quantity",
                 {user_cart, item_id, capped, line.Int(2), line.Text(3), line.Int(4)})
              .status());
    }
    KEEL_RETURN_IF_ERROR(
        t.Exec("UPDATE carts SET updated_at = $2 WHERE cart_id = $1", {user_cart, clock_->Now()})
            .status());
    // The guest's promotion comes along unless the user's cart has one.
    KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO cart_promos(cart_id, code) SELECT $2, code FROM "
                                "cart_promos WHERE cart_id = $1 ON CONFLICT(cart_id) DO NOTHING",
                                {guest_cart_id, user_cart})
                             .status());
    for (const char* table : {"cart_lines", "cart_promos", "carts"}) {
      KEEL_RETURN_IF_ERROR(
          t.Exec(std::string("DELETE FROM ") + table + " WHERE cart_id = $1", {guest_cart_id})
              .status());
    }
    return Status::Ok();
  }));
  return Get(user_cart);
}

Status Carts::AddToWishlist(const std::string& user_id, const std::string& item_id) {
  KEEL_RETURN_IF_ERROR(CheckText("itemId", item_id, 1, 64));
  auto item = catalog_->Get(item_id);
  if (!item.ok()) {
    return item.status().code() == StatusCode::kNotFound
               ? Status::NotFound("no item " + item_id, "item_not_found")
               : item.status();
  }
  return db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(SqlRows n,
                          t.Query("SELECT COUNT(*) FROM wishlist WHERE user_id = $1", {user_id}));
    if (n.at(0).Int(0) >= 1000) {
      return Status::FailedPrecondition("a wishlist holds at most 1000 items", "wishlist_full");
    }
    return t
        .Exec(
            "INSERT INTO wishlist(user_id, item_id, added_at) VALUES($1,$2,$3) "
            "ON CONFLICT(user_id, item_id) DO NOTHING",
            {user_id, item_id, clock_->Now()})
        .status();
  });
}

Status Carts::RemoveFromWishlist(const std::string& user_id, const std::string& item_id) {
  return db_->Transact([&](SqlTxn& t) {
    return t.Exec("DELETE FROM wishlist WHERE user_id = $1 AND item_id = $2", {user_id, item_id})
        .status();
  });
}

Result<std::vector<std::string>> Carts::WishlistedBy(const std::string& item_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT user_id FROM wishlist WHERE item_id = $1 "
                                              "ORDER BY user_id",
                                              {item_id}));
  std::vector<std::string> out;
  for (const auto& row : r) out.push_back(row.Text(0));
  return out;
}

Result<std::vector<std::string>> Carts::Wishlist(const std::string& user_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT item_id FROM wishlist WHERE user_id = $1 "
                                              "ORDER BY added_at DESC, item_id",
                                              {user_id}));
  std::vector<std::string> out;
  for (const auto& row : r) out.push_back(row.Text(0));
  return out;
}

}  // namespace keel::commerce
