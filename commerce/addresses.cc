// Saved shipping addresses: the users service's methods for them (users.h).

#include "commerce/users.h"
#include "commerce/validation.h"
#include "common/ids.h"

namespace keel::commerce {

using persistence::SqlRows;
using persistence::SqlTxn;

namespace {

struct AddressField {
  const char* name;
  size_t max;
  bool required;
};
constexpr AddressField kAddressFields[] = {
    {"name", 100, true},    {"line1", 200, true},      {"line2", 200, false}, {"city", 100, true},
    {"region", 100, false}, {"postal_code", 20, true}, {"country", 2, true}};

json::object Row(const persistence::SqlRow& r) {
  auto body = ParseJson(r.Text(1));
  json::object o = body.ok() && body->is_object() ? body->as_object() : json::object{};
  o["address_id"] = r.Text(0);
  o["created_at"] = r.Int(2);
  return o;
}

}  // namespace

Result<json::object> Users::ValidateAddress(const json::value& address, const std::string& prefix) {
  if (!address.is_object())
    return FieldError(prefix.substr(0, prefix.size() - 1), "must be an object");
  const json::object& in = address.as_object();
  json::object out;
  for (const auto& f : kAddressFields) {
    const std::string field = prefix + f.name;
    const json::value* v = in.if_contains(f.name);
    if (!v || v->is_null()) {
      if (f.required) return FieldError(field, "is required");
      continue;
    }
    if (!v->is_string()) return FieldError(field, "must be a string");
    std::string text(v->as_string());
    if (std::string_view(f.name) == "country") text = AsciiUpper(text);  // "gb" is GB
    KEEL_RETURN_IF_ERROR(CheckText(field, text, f.required ? 1 : 0, f.max));
    out[f.name] = text;
  }
  KEEL_RETURN_IF_ERROR(
      CheckCountry(prefix + "country", std::string(out.at("country").as_string())));
  for (const auto& [k, v] : in) {
    bool known = false;
    for (const auto& f : kAddressFields) known = known || k == f.name;
    if (!known) return FieldError(prefix + std::string(k), "is not an address field");
  }
  return out;
}

Result<std::string> Users::AddAddress(const std::string& user_id, const json::object& address) {
  KEEL_ASSIGN_OR_RETURN(json::object clean, ValidateAddress(address, ""));
  const std::string id = "addr_" + NewSecretHex(8);
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    if (db_->postgres()) {  // one buyer's additions take turns, so the cap holds
      KEEL_RETURN_IF_ERROR(
          t.Query("SELECT pg_advisory_xact_lock(hashtext('addresses:' || $1))", {user_id})
              .status());
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows n,
                          t.Query("SELECT COUNT(*) FROM addresses WHERE user_id = $1", {user_id}));
    if (n[0].Int(0) >= kMaxAddresses) {
      return Status::FailedPrecondition(
          "an account keeps at most " + std::to_string(kMaxAddresses) + " addresses",
          "address_limit");
    }
    return t
        .Exec("INSERT INTO addresses(address_id, user_id, body, created_at) VALUES($1,$2,$3,$4)",
              {id, user_id, json::serialize(clean), clock_->Now()})
        .status();
  }));
  return id;
}

Result<std::vector<json::object>> Users::Addresses(const std::string& user_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT address_id, body, created_at FROM addresses "
                                              "WHERE user_id = $1 ORDER BY created_at, address_id",
                                              {user_id}));
  std::vector<json::object> out;
  for (const auto& row : r) out.push_back(Row(row));
  return out;
}

Result<json::object> Users::Address(const std::string& user_id, const std::string& address_id) {
  KEEL_ASSIGN_OR_RETURN(SqlRows r, db_->Query("SELECT address_id, body, created_at FROM addresses "
                                              "WHERE user_id = $1 AND address_id = $2",
                                              {user_id, address_id}));
  if (r.empty()) return Status::NotFound("no address " + address_id + " of yours", "not_found");
  return Row(r[0]);
}

Status Users::DeleteAddress(const std::string& user_id, const std::string& address_id) {
  int64_t n = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(n, t.Exec("DELETE FROM addresses WHERE user_id = $1 AND address_id = $2",
                                    {user_id, address_id}));
    return Status::Ok();
  }));
  if (n == 0) return Status::NotFound("no address " + address_id + " of yours", "not_found");
  return Status::Ok();
}

}  // namespace keel::commerce
