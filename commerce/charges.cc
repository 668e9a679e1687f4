#include "commerce/charges.h"

#include <set>

#include "commerce/validation.h"

namespace keel::commerce {
namespace {

using persistence::SqlRows;
using persistence::SqlTxn;

constexpr size_t kMaxTaxRows = 5000, kMaxShippingRows = 200;

const json::value* Field(const json::object& o, const char* name) { return o.if_contains(name); }

Result<std::string> Text(const json::object& o, const std::string& at, const char* name,
                         bool required) {
  const json::value* v = Field(o, name);
  if (!v || v->is_null()) {
    if (required) return FieldError(at + name, "is required");
    return std::string();
  }
  if (!v->is_string()) return FieldError(at + name, "must be a string");
  return AsciiUpper(std::string(v->as_string()));
}

Result<int64_t> Int(const json::object& o, const std::string& at, const char* name, bool required,
                    int64_t max) {
  const json::value* v = Field(o, name);
  if (!v || v->is_null()) {
    if (required) return FieldError(at + name, "is required");
    return 0;
  }
  if (!v->is_int64() && !v->is_uint64()) return FieldError(at + name, "must be an integer");
  const int64_t n = v->to_number<int64_t>();
  KEEL_RETURN_IF_ERROR(CheckRange(at + name, n, 0, max));
  return n;
}

Result<TaxRate> ParseTax(const json::value& row, const std::string& at) {
  if (!row.is_object()) return FieldError(at, "must be an object");
  const auto& o = row.as_object();
  KEEL_RETURN_IF_ERROR(CheckKnownFields(o, at, {"country", "region", "rate_bp"}, "a tax field"));
  TaxRate t;
  KEEL_ASSIGN_OR_RETURN(t.country, Text(o, at, "country", true));
  KEEL_RETURN_IF_ERROR(CheckCountry(at + "country", t.country));
  KEEL_ASSIGN_OR_RETURN(t.region, Text(o, at, "region", false));
  KEEL_RETURN_IF_ERROR(CheckText(at + "region", t.region, 0, 100));
  KEEL_ASSIGN_OR_RETURN(t.rate_bp, Int(o, at, "rate_bp", true, 10'000));
  return t;
}

Result<ShippingRate> ParseShipping(const json::value& row, const std::string& at) {
  if (!row.is_object()) return FieldError(at, "must be an object");
  const auto& o = row.as_object();
  KEEL_RETURN_IF_ERROR(
      CheckKnownFields(o, at, {"currency", "fee", "free_from"}, "a shipping field"));
  ShippingRate r;
  KEEL_ASSIGN_OR_RETURN(r.currency, Text(o, at, "currency", true));
  if (r.currency != "*") KEEL_RETURN_IF_ERROR(CheckCurrency(at + "currency", r.currency));
  KEEL_ASSIGN_OR_RETURN(r.fee, Int(o, at, "fee", true, kMaxPriceMinor));
  KEEL_ASSIGN_OR_RETURN(r.free_from, Int(o, at, "free_from", false, kMaxPriceMinor));
  return r;
}

Result<const json::array*> Rows(const json::object& o, const char* name, size_t max) {
  const json::value* v = o.if_contains(name);
  static const json::array kNone;
  if (!v || v->is_null()) return &kNone;
  if (!v->is_array()) return FieldError(name, "must be an array");
  if (v->as_array().size() > max) {
    return FieldError(name, "has more than " + std::to_string(max) + " rows");
  }
  return &v->as_array();
}

}  // namespace

Result<Destination> CheckDestination(Destination to) {
  to.country = AsciiUpper(to.country);
  to.region = AsciiUpper(to.region);
  if (!to.country.empty()) KEEL_RETURN_IF_ERROR(CheckCountry("country", to.country));
  KEEL_RETURN_IF_ERROR(CheckText("region", to.region, 0, 100));
  return to;
}

Result<ChargeTables> ParseChargeTables(const json::value& v) {
  if (!v.is_object()) return FieldError("body", "must be an object with tax and shipping");
  for (const auto& [k, x] : v.as_object()) {
    if (k != "tax" && k != "shipping") return FieldError(k, "is not a table of charges");
  }
  ChargeTables t;
  KEEL_ASSIGN_OR_RETURN(const json::array* tax, Rows(v.as_object(), "tax", kMaxTaxRows));
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < tax->size(); ++i) {
    const std::string at = "tax[" + std::to_string(i) + "].";
    KEEL_ASSIGN_OR_RETURN(TaxRate r, ParseTax((*tax)[i], at));
    if (!seen.insert({r.country, r.region}).second) {
      return FieldError(at + "region", "repeats " + r.country + " " + r.region);
    }
    t.tax.push_back(std::move(r));
  }
  KEEL_ASSIGN_OR_RETURN(const json::array* ship, Rows(v.as_object(), "shipping", kMaxShippingRows));
  std::set<std::string> currencies;
  for (size_t i = 0; i < ship->size(); ++i) {
    const std::string at = "shipping[" + std::to_string(i) + "].";
    KEEL_ASSIGN_OR_RETURN(ShippingRate r, ParseShipping((*ship)[i], at));
    if (!currencies.insert(r.currency).second) {
      return FieldError(at + "currency", "repeats " + r.currency);
    }
    t.shipping.push_back(std::move(r));
  }
  return t;
}

json::value ChargeTablesJson(const ChargeTables& t) {
  json::array tax, shipping;
  for (const auto& r : t.tax) {
    tax.push_back(
        json::object{{"country", r.country}, {"region", r.region}, {"rate_bp", r.rate_bp}});
  }
  for (const auto& r : t.shipping) {
    shipping.push_back(
        json::object{{"currency", r.currency}, {"fee", r.fee}, {"free_from", r.free_from}});
  }
  return json::object{{"tax", tax}, {"shipping", shipping}};
}

Status ChargeRules::Set(const ChargeTables& tables) {
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_RETURN_IF_ERROR(t.Exec("DELETE FROM tax_rates").status());
    KEEL_RETURN_IF_ERROR(t.Exec("DELETE FROM shipping_rates").status());
    for (const auto& r : tables.tax) {
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO tax_rates(country, region, rate_bp) VALUES($1,$2,$3)",
                 {r.country, r.region, r.rate_bp})
              .status());
    }
    for (const auto& r : tables.shipping) {
      KEEL_RETURN_IF_ERROR(
          t.Exec("INSERT INTO shipping_rates(currency, fee, free_from) VALUES($1,$2,$3)",
                 {r.currency, r.fee, r.free_from})
              .status());
    }
    return Status::Ok();
  }));
  std::lock_guard<std::mutex> l(mu_);
  read_at_ = 0;  // this process sees them at once
  return Status::Ok();
}

Result<ChargeTables> ChargeRules::Get() {
  ChargeTables t;
  KEEL_ASSIGN_OR_RETURN(SqlRows tax, db_->Query("SELECT country, region, rate_bp FROM tax_rates "
                                                "ORDER BY country, region"));
  for (const auto& r : tax) t.tax.push_back({r.Text(0), r.Text(1), r.Int(2)});
  KEEL_ASSIGN_OR_RETURN(SqlRows ship, db_->Query("SELECT currency, fee, free_from FROM "
                                                 "shipping_rates ORDER BY currency"));
  for (const auto& r : ship) t.shipping.push_back({r.Text(0), r.Int(1), r.Int(2)});
  return t;
}

Result<std::shared_ptr<const ChargeRules::Cache>> ChargeRules::Current() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (cache_ && clock_->Now() - read_at_ < kRefreshMs) return cache_;
  }
  KEEL_ASSIGN_OR_RETURN(ChargeTables t, Get());
  auto c = std::make_shared<Cache>();
  for (const auto& r : t.tax) c->tax[{r.country, r.region}] = r.rate_bp;
  for (const auto& r : t.shipping) c->shipping[r.currency] = r;
  if (t.shipping.empty()) c->shipping["*"] = {"*", kDefaultFee, kDefaultFreeFrom};
  std::lock_guard<std::mutex> l(mu_);
  cache_ = c;
  read_at_ = clock_->Now();
  return cache_;
}

Result<Charges> ChargeRules::For(int64_t goods, const std::string& currency,
                                 const Destination& to) {
  KEEL_ASSIGN_OR_RETURN(std::shared_ptr<const Cache> c, Current());
  Charges out;
  auto ship = c->shipping.find(currency);
  if (ship == c->shipping.end()) ship = c->shipping.find("*");
  if (goods > 0 && ship != c->shipping.end()) {
    const ShippingRate& r = ship->second;
    out.shipping = r.free_from > 0 && goods >= r.free_from ? 0 : r.fee;
  }
  if (!to.country.empty()) {
    auto rate = c->tax.find({to.country, to.region});
    if (rate == c->tax.end()) rate = c->tax.find({to.country, ""});
    if (rate != c->tax.end()) out.tax_rate_bp = rate->second;
  }
  // Half up; the product is wide (a cart may hold 10^15 minor units).
  out.tax = static_cast<int64_t>((static_cast<__int128>(goods) * out.tax_rate_bp + 5000) / 10'000);
  return out;
}

}  // namespace keel::commerce
