#include "commerce/users.h"

#include <algorithm>

#include "common/ids.h"

namespace keel::commerce {
namespace {

using persistence::SqlRows;
using persistence::SqlTxn;

const std::vector<std::string> kMigrations = {
    "CREATE TABLE users(id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT "
    "NULL, role TEXT NOT NULL, created_at BIGINT NOT NULL);"
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    // A buyer's saved shipping addresses (addresses.cc).
    "CREATE TABLE addresses(address_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, body TEXT NOT "
    "NULL, created_at BIGINT NOT NULL);"
    "CREATE INDEX addresses_by_user ON addresses(user_id, created_at);",
};

std::string Fold(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

User ReadUser(const persistence::SqlRow& r) {
  auto role = ParseRole(r.Text(2));
  return User{r.Text(0), r.Text(1), role.ok() ? role.value() : Role::kBuyer, r.Int(3)};
}

}  // namespace

Result<std::unique_ptr<Users>> Users::Open(std::unique_ptr<persistence::SqlDatabase> db,
                                           Clock* clock, Millis token_ttl_ms) {
  KEEL_RETURN_IF_ERROR(db->Migrate(kMigrations));
  std::string secret = Base64UrlEncode(RandomSecret());
  KEEL_RETURN_IF_ERROR(db->Transact([&](SqlTxn& t) -> Status {
    KEEL_RETURN_IF_ERROR(
        t.Exec("INSERT INTO settings(key, value) VALUES('token_secret', $1) ON CONFLICT(key) DO "
               "NOTHING",
               {secret})
            .status());
    KEEL_ASSIGN_OR_RETURN(SqlRows r,
                          t.Query("SELECT value FROM settings WHERE key='token_secret'"));
    secret = r.at(0).Text(0);
    return Status::Ok();
  }));
  return std::unique_ptr<Users>(new Users(std::move(db), clock, token_ttl_ms, secret));
}

Result<User> Users::Register(const std::string& email, const std::string& password, Role role) {
  KEEL_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  User u{NewTimeOrderedUuid(clock_->Now()), Fold(email), role, clock_->Now()};
  Status s = db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(int64_t n,
                          t.Exec("INSERT INTO users(id, email, password_hash, role, created_at) "
                                 "VALUES($1,$2,$3,$4,$5) ON CONFLICT(email) DO NOTHING",
                                 {u.id, u.email, hash, std::string(RoleName(role)), u.created_at}));
    if (n == 0) {
      return Status::AlreadyExists("an account with this email exists; log in instead",
                                   "email_taken");
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  return u;
}

Result<std::string> Users::Login(const std::string& email, const std::string& password,
                                 User* user) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r, db_->Query("SELECT id, email, role, created_at, password_hash FROM users WHERE "
                            "email=$1",
                            {Fold(email)}));
  const Status bad =
      Status::InvalidArgument("the email or the password is wrong", "invalid_credentials");
  if (r.empty()) {
    // Spend the same time as a real check, so timing does not reveal which emails exist.
    static const std::string dummy = HashPassword("not-a-password").value();
    (void)VerifyPassword(dummy, password);
    return bad;
  }
  if (!VerifyPassword(r[0].Text(4), password)) return bad;
  User u = ReadUser(r[0]);
  if (user) *user = u;
  return IssueToken(u);
}

std::string Users::IssueToken(const User& u) const {
  return signer_.Issue(Principal{u.id, u.role, clock_->Now() + ttl_});
}

Result<Principal> Users::Authenticate(std::string_view bearer_token) const {
  return signer_.Verify(bearer_token, clock_->Now());
}

Result<User> Users::Get(const std::string& user_id) {
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r,
      db_->Query("SELECT id, email, role, created_at FROM users WHERE id=$1", {user_id}));
  if (r.empty()) return Status::NotFound("no such user", "not_found");
  return ReadUser(r[0]);
}

Status Users::EnsureAdmin(const std::string& email, const std::string& password) {
  KEEL_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  return db_->Transact([&](SqlTxn& t) -> Status {
    return t
        .Exec(
            "INSERT INTO users(id, email, password_hash, role, created_at) VALUES($1,$2,$3,"
            "'admin',$4) ON CONFLICT(email) DO UPDATE SET password_hash=excluded.password_hash, "
            "role='admin'",
            {NewTimeOrderedUuid(clock_->Now()), Fold(email), hash, clock_->Now()})
        .status();
  });
}

}  // namespace keel::commerce
