#include "commerce/promotions.h"

#include <algorithm>
#include <cctype>

#include "commerce/validation.h"

namespace keel::commerce {
namespace {

using persistence::SqlRow;
using persistence::SqlRows;
using persistence::SqlTxn;

const std::vector<std::string> kMigrations = {
    "CREATE TABLE promotions(code TEXT PRIMARY KEY, seller_id TEXT NOT NULL, percent_off BIGINT "
    "NOT NULL, amount_off BIGINT NOT NULL, currency TEXT NOT NULL, min_subtotal BIGINT NOT NULL, "
    "starts_at BIGINT NOT NULL, ends_at BIGINT NOT NULL, max_redemptions BIGINT NOT NULL, "
    "per_buyer_limit BIGINT NOT NULL, redeemed BIGINT NOT NULL CHECK (redeemed >= 0), "
    "created_by TEXT NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE INDEX promotions_by_seller ON promotions(seller_id, created_at);"
    "CREATE TABLE redemptions(order_id TEXT PRIMARY KEY, code TEXT NOT NULL, buyer_id TEXT NOT "
    "NULL, amount BIGINT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at "
    "BIGINT NOT NULL);"
    "CREATE INDEX redemptions_by_buyer ON redemptions(code, buyer_id, state);",
};

constexpr const char* kCols =
    "code, seller_id, percent_off, amount_off, currency, min_subtotal, starts_at, ends_at, "
    "max_redemptions, per_buyer_limit, redeemed, created_by, created_at";

Promotion ReadPromotion(const SqlRow& r) {
  Promotion p;
  p.code = r.Text(0);
  p.seller_id = r.Text(1);
  p.percent_off = r.Int(2);
  p.amount_off = r.Int(3);
  p.currency = r.Text(4);
  p.min_subtotal = r.Int(5);
  p.starts_at = r.Int(6);
  p.ends_at = r.Int(7);
  p.max_redemptions = r.Int(8);
  p.per_buyer_limit = r.Int(9);
  p.redeemed = r.Int(10);
  p.created_by = r.Text(11);
  p.created_at = r.Int(12);
  return p;
}

Status CheckCode(const std::string& code) {
  KEEL_RETURN_IF_ERROR(CheckText("code", code, 3, 32));
  for (char c : code) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') {
      return FieldError("code", "may hold only letters, digits, '-' and '_'");
    }
  }
  return Status::Ok();
}

Status Validate(Promotion& p) {
  p.code = AsciiUpper(p.code);
  KEEL_RETURN_IF_ERROR(CheckCode(p.code));
  if ((p.percent_off > 0) == (p.amount_off > 0)) {
    return FieldError("percent_off", "give exactly one of percent_off and amount_off");
  }
  KEEL_RETURN_IF_ERROR(CheckRange("percent_off", p.percent_off, 0, 100));
  KEEL_RETURN_IF_ERROR(CheckRange("amount_off", p.amount_off, 0, kMaxPriceMinor));
  KEEL_RETURN_IF_ERROR(CheckRange("min_subtotal", p.min_subtotal, 0, kMaxPriceMinor));
  if (!p.currency.empty() || p.amount_off > 0 || p.min_subtotal > 0) {
    KEEL_RETURN_IF_ERROR(CheckCurrency("currency", p.currency));
  }
  KEEL_RETURN_IF_ERROR(CheckRange("starts_at", p.starts_at, 0, int64_t{1} << 50));
  KEEL_RETURN_IF_ERROR(CheckRange("ends_at", p.ends_at, 0, int64_t{1} << 50));
  if (p.ends_at != 0 && p.ends_at <= p.starts_at) {
    return FieldError("ends_at", "must be after starts_at");
  }
  KEEL_RETURN_IF_ERROR(CheckRange("max_redemptions", p.max_redemptions, 0, 1'000'000'000));
  return CheckRange("per_buyer_limit", p.per_buyer_limit, 0, 1'000'000);
}

}  // namespace

Discount DiscountFor(const Promotion& p, const std::vector<PricedLine>& lines,
                     const std::string& currency, Millis now) {
  if (now < p.starts_at) return {0, "not_started"};
  if (p.ends_at != 0 && now >= p.ends_at) return {0, "ended"};
  if (p.max_redemptions > 0 && p.redeemed >= p.max_redemptions) return {0, "exhausted"};
  if (!p.currency.empty() && p.currency != currency) return {0, "currency_mismatch"};
  int64_t eligible = 0;
  for (const auto& l : lines) {
    if (p.seller_id.empty() || l.seller_id == p.seller_id) eligible += l.amount;
  }
  if (eligible == 0) return {0, "no_eligible_items"};
  if (eligible < p.min_subtotal) return {0, "min_subtotal"};
  const int64_t off = p.percent_off > 0 ? eligible * p.percent_off / 100 : p.amount_off;
  return {std::min(off, eligible), ""};
}

Result<std::unique_ptr<Promotions>> Promotions::Open(std::unique_ptr<persistence::SqlDatabase> db,
                                                     Clock* clock) {
  KEEL_RETURN_IF_ERROR(db->Migrate(kMigrations));
  return std::unique_ptr<Promotions>(new Promotions(std::move(db), clock));
}

Result<Promotion> Promotions::Create(Promotion p) {
  KEEL_RETURN_IF_ERROR(Validate(p));
  p.redeemed = 0;
  p.created_at = clock_->Now();
  if (p.starts_at == 0) p.starts_at = p.created_at;
  int64_t n = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(n, t.Exec(std::string("INSERT INTO promotions(") + kCols +
                                        ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,0,$11,$12) "
                                        "ON CONFLICT(code) DO NOTHING",
                                    {p.code, p.seller_id, p.percent_off, p.amount_off, p.currency,
                                     p.min_subtotal, p.starts_at, p.ends_at, p.max_redemptions,
                                     p.per_buyer_limit, p.created_by, p.created_at}));
    return Status::Ok();
  }));
  if (n == 0) return Status::AlreadyExists("promotion " + p.code + " exists", "promo_exists");
  return p;
}

Result<Promotion> Promotions::Get(const std::string& code) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r, db_->Query(std::string("SELECT ") + kCols + " FROM promotions WHERE code = $1",
                            {AsciiUpper(code)}));
  if (r.empty()) return Status::NotFound("no promotion " + code, "promo_not_found");
  return ReadPromotion(r[0]);
}

Result<std::vector<Promotion>> Promotions::List(const std::string& seller_id, int64_t limit) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query(std::string("SELECT ") + kCols +
                                                  " FROM promotions WHERE CAST($1 AS TEXT) = "
                                                  "'*' OR seller_id = $1 ORDER BY created_at "
                                                  "DESC, code LIMIT $2",
                                              {seller_id, limit}));
  std::vector<Promotion> out;
  for (const auto& row : r) out.push_back(ReadPromotion(row));
  return out;
}

Result<int64_t> Promotions::RedeemedBy(const std::string& code, const std::string& buyer_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT COUNT(*) FROM redemptions WHERE code = $1 "
                                              "AND buyer_id = $2 AND state = 'redeemed'",
                                              {AsciiUpper(code), buyer_id}));
  return r.at(0).Int(0);
}

Status Promotions::Reserve(const std::string& order_id, const std::string& code,
                           const std::string& buyer_id, int64_t amount) {
  KEEL_RETURN_IF_ERROR(CheckText("order_id", order_id, 1, 100));
  KEEL_RETURN_IF_ERROR(CheckRange("amount", amount, 1, kMaxPriceMinor));
  const std::string c = AsciiUpper(code);
  return db_->Transact([&](SqlTxn& t) -> Status {
    const Millis now = clock_->Now();
    KEEL_ASSIGN_OR_RETURN(SqlRows had,
                          t.Query("SELECT state FROM redemptions WHERE order_id = $1", {order_id}));
    if (!had.empty()) return Status::Ok();  // reserved (or given back) before: idempotent
    // Counting first takes the promotion's row lock (PostgreSQL) until commit.
    KEEL_ASSIGN_OR_RETURN(
        SqlRows p, t.Query("UPDATE promotions SET redeemed = redeemed + 1 WHERE code = $1 "
                           "RETURNING redeemed, max_redemptions, per_buyer_limit, starts_at, "
                           "ends_at",
                           {c}));
    if (p.empty()) return Status::NotFound("no promotion " + c, "promo_not_found");
    const int64_t redeemed = p[0].Int(0), max = p[0].Int(1), per_buyer = p[0].Int(2);
    if (now < p[0].Int(3) || (p[0].Int(4) != 0 && now >= p[0].Int(4))) {
      return Status::FailedPrecondition("promotion " + c + " is not running", "promo_unavailable");
    }
    if (max > 0 && redeemed > max) {
      return Status::FailedPrecondition("promotion " + c + " is used up", "promo_exhausted");
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows mine,
                          t.Query("SELECT COUNT(*) FROM redemptions WHERE code = $1 AND "
                                  "buyer_id = $2 AND state = 'redeemed'",
                                  {c, buyer_id}));
    if (per_buyer > 0 && mine.at(0).Int(0) >= per_buyer) {
      return Status::FailedPrecondition("buyer " + buyer_id + " has used promotion " + c + " " +
                                            std::to_string(per_buyer) + " times already",
                                        "promo_buyer_limit");
    }
    return t
        .Exec(
            "INSERT INTO redemptions(order_id, code, buyer_id, amount, state, created_at, "
            "updated_at) VALUES($1,$2,$3,$4,'redeemed',$5,$5)",
            {order_id, c, buyer_id, amount, now})
        .status();
  });
}

Status Promotions::Release(const std::string& order_id) {
  return db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(SqlRows r,
                          t.Query("UPDATE redemptions SET state = 'released', updated_at = $2 "
                                  "WHERE order_id = $1 AND state = 'redeemed' RETURNING code",
                                  {order_id, clock_->Now()}));
    if (r.empty()) return Status::Ok();
    return t.Exec("UPDATE promotions SET redeemed = redeemed - 1 WHERE code = $1", {r[0].Text(0)})
        .status();
  });
}

Result<std::vector<Redemption>> Promotions::Redemptions() {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT order_id, code, buyer_id, state, amount, "
                                              "created_at FROM redemptions ORDER BY order_id"));
  std::vector<Redemption> out;
  for (const auto& row : r) {
    out.push_back({row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Int(4), row.Int(5)});
  }
  return out;
}

}  // namespace keel::commerce
