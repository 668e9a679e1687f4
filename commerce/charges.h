#pragma once
// The shop's charges on a cart: tax by destination and shipping by currency, from two
// tables kept in the carts database, so every process applies the same ones. They are
// set from a file at start (`keel serve --charges FILE`) or through the admin API
// (GET/PUT /v1/charges), and each process rereads them at most kRefreshMs later.
//
//   goods    = subtotal - discount
//   shipping = 0 if goods is 0 or at least the currency's free_from (when set), else
//              its fee; a currency not in the table uses the row "*"
//   tax      = goods * rate / 10000, rounded half up to the minor unit, with the
//              rate (basis points) of the destination's (country, region), else of
//              (country, ""), else 0; shipping is not taxed
//   total    = goods + shipping + tax
// With no tables set: shipping 4.99 below 50.00 in every currency, and no tax.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/json.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct TaxRate {
  std::string country, region;  // ISO 3166-1 alpha-2; region "" for the whole country
  int64_t rate_bp = 0;          // basis points: 725 is 7.25 %
};

struct ShippingRate {
  std::string currency;   // ISO 4217, or "*" for every other currency
  int64_t fee = 0;        // minor units
  int64_t free_from = 0;  // goods at or above it ship free; 0: never free
};

struct ChargeTables {
  std::vector<TaxRate> tax;
  std::vector<ShippingRate> shipping;
};

// Where a cart ships to, for its tax; country "" when not known yet (no tax). The
// region is matched upper case ("ca" is the table's "CA").
struct Destination {
  std::string country, region;
};
// `to` checked (validation_failed) and upper-cased: country "" or ISO alpha-2, region
// up to 100 bytes.
Result<Destination> CheckDestination(Destination to);

struct Charges {
  int64_t shipping = 0, tax = 0;
  int64_t tax_rate_bp = 0;
};

// Both tables from JSON {"tax": [{country, region?, rate_bp}], "shipping": [{currency,
// fee, free_from?}]}, checked (validation_failed naming the field): at most 5,000 tax
// rows and 200 shipping rows, rates 0-10,000 bp, no duplicate keys.
Result<ChargeTables> ParseChargeTables(const json::value& v);
json::value ChargeTablesJson(const ChargeTables& t);

class ChargeRules {
 public:
  static constexpr Millis kRefreshMs = 1000;
  static constexpr int64_t kDefaultFee = 499, kDefaultFreeFrom = 5000;

  // Over the carts database, whose migrations make the two tables (cart.cc).
  ChargeRules(persistence::SqlDatabase* db, Clock* clock) : db_(db), clock_(clock) {}
  // Replaces both tables (empty tables: the defaults above).
  Status Set(const ChargeTables& tables);
  Result<ChargeTables> Get();
  // The charges on `goods` (subtotal - discount) in `currency`, shipped to `to`.
  Result<Charges> For(int64_t goods, const std::string& currency, const Destination& to);

 private:
  struct Cache {
    std::map<std::pair<std::string, std::string>, int64_t> tax;  // (country, region) -> bp
    std::map<std::string, ShippingRate> shipping;
  };
  Result<std::shared_ptr<const Cache>> Current();
  persistence::SqlDatabase* db_;
  Clock* clock_;
  std::mutex mu_;
  std::shared_ptr<const Cache> cache_;
  Millis read_at_ = 0;
};

}  // namespace keel::commerce
