#pragma once
// Users and sign-in, in the "users" database: accounts with a role, argon2id
// password hashes, and the token-signing secret shared by every API process (made
// once, stored, so tokens stay valid across restarts and processes).

#include <memory>
#include <string>
#include <vector>

#include "commerce/auth.h"
#include "common/json.h"
#include "persistence/sql/sql_database.h"

namespace keel::commerce {

struct User {
  std::string id;
  std::string email;
  Role role = Role::kBuyer;
  Millis created_at = 0;
};

class Users {
 public:
  // Migrates the database and loads (or makes) the signing secret.
  static Result<std::unique_ptr<Users>> Open(std::unique_ptr<persistence::SqlDatabase> db,
                                             Clock* clock, Millis token_ttl_ms);

  // email_taken when the (case-folded) email has an account.
  Result<User> Register(const std::string& email, const std::string& password, Role role);
  // invalid_credentials for an unknown email or a wrong password (the same answer).
  Result<std::string> Login(const std::string& email, const std::string& password,
                            User* user = nullptr);
  Result<Principal> Authenticate(std::string_view bearer_token) const;
  Result<User> Get(const std::string& user_id);
  // Creates or resets the admin account (used by `keel serve` at first start).
  Status EnsureAdmin(const std::string& email, const std::string& password);
  std::string IssueToken(const User& u) const;

  // Saved shipping addresses (addresses.cc). An address is a JSON object of
  // kAddressFields: name, line1, city, postal_code and country (ISO 3166-1 alpha-2)
  // required, line2 and region optional; nothing else.
  static constexpr int kMaxAddresses = 20;
  // validation_failed naming the field ("<prefix>line1"); returns the clean object.
  static Result<json::object> ValidateAddress(const json::value& address,
                                              const std::string& prefix);
  // The new address's id; address_limit past kMaxAddresses.
  Result<std::string> AddAddress(const std::string& user_id, const json::object& address);
  // {address_id, ...fields, created_at} of each, oldest first.
  Result<std::vector<json::object>> Addresses(const std::string& user_id);
  // not_found unless `user_id` has it.
  Result<json::object> Address(const std::string& user_id, const std::string& address_id);
  Status DeleteAddress(const std::string& user_id, const std::string& address_id);

 private:
  Users(std::unique_ptr<persistence::SqlDatabase> db, Clock* clock, Millis ttl, std::string secret)
      : db_(std::move(db)), clock_(clock), ttl_(ttl), signer_(std::move(secret)) {}
  std::unique_ptr<persistence::SqlDatabase> db_;
  Clock* clock_;
  Millis ttl_;
  TokenSigner signer_;
};

}  // namespace keel::commerce
