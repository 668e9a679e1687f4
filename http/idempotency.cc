#include "http/idempotency.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "commerce/validation.h"
#include "common/hex.h"
#include "common/ids.h"
#include "common/json.h"
#include "common/metrics.h"
#include "http/router.h"

namespace keel::http {

using persistence::SqlRows;
using persistence::SqlTxn;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS idempotency(scope TEXT NOT NULL, key TEXT NOT NULL, request_hash "
    "TEXT NOT "
    "NULL, status INT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, "
    "PRIMARY KEY(scope, key));"
    "CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency(created_at);"
    "CREATE TABLE IF NOT EXISTS idempotency_secret(id INT PRIMARY KEY, secret TEXT NOT NULL);";

// Fields whose values must not shape a stored fingerprint.
bool SecretField(std::string_view name) { return name == "password" || name == "cardNo"; }

json::value WithoutSecrets(const json::value& v) {
  if (v.is_object()) {
    json::object out;
    for (const auto& [k, x] : v.as_object()) {
      if (!SecretField(k)) out[k] = WithoutSecrets(x);
    }
    return out;
  }
  if (v.is_array()) {
    json::array out;
    for (const auto& x : v.as_array()) out.push_back(WithoutSecrets(x));
    return out;
  }
  return v;
}

Status IdempotencyKeys::EnsureSchema() {
  if (ready_) return Status::Ok();
  // Not a versioned migration: the table may share a database that has its own.
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    if (db_->postgres()) {  // concurrent CREATE ... IF NOT EXISTS can still collide
      KEEL_RETURN_IF_ERROR(
          t.Exec("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.idempotency'))", {})
              .status());
    }
    KEEL_RETURN_IF_ERROR(t.ExecScript(kSchema));
    KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO idempotency_secret(id, secret) VALUES(1, $1) "
                                "ON CONFLICT(id) DO NOTHING",
                                {NewSecretHex(32)})
                             .status());
    KEEL_ASSIGN_OR_RETURN(SqlRows r, t.Query("SELECT secret FROM idempotency_secret WHERE id = 1"));
    std::lock_guard<std::mutex> l(mu_);
    key_ = r.at(0).Text(0);
    return Status::Ok();
  }));
  ready_ = true;
  return Status::Ok();
}

Result<std::string> IdempotencyKeys::Fingerprint(std::string_view request) {
  KEEL_RETURN_IF_ERROR(EnsureSchema());
  std::string text(request);
  if (auto v = ParseJson(request); v.ok()) text = json::serialize(WithoutSecrets(v.value()));
  std::string key;
  {
    std::lock_guard<std::mutex> l(mu_);
    key = key_;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &len);
  return "h1:" + HexEncode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

Response IdempotencyKeys::Run(const std::string& scope, const std::string& key,
                              std::string_view request, const std::function<Response()>& run) {
  if (key.empty()) return run();
  if (key.size() > 255) {
    return StatusResponse(commerce::FieldError("Idempotency-Key", "must be at most 255 bytes"));
  }
  auto fingerprint = Fingerprint(request);
  if (!fingerprint.ok()) return StatusResponse(fingerprint.status());
  const std::string& hash = fingerprint.value();
  const Millis now = clock_->Now();
  enum { kRun, kReplay, kMismatch, kInFlight } outcome = kRun;
  int stored_status = 0;
  std::string stored_body;
  Status claimed = db_->Transact([&](SqlTxn& t) -> Status {
    outcome = kRun;
    KEEL_ASSIGN_OR_RETURN(int64_t n,
                          t.Exec("INSERT INTO idempotency(scope, key, request_hash, status, body, "
                                 "created_at) VALUES($1,$2,$3,0,'',$4) ON CONFLICT DO NOTHING",
                                 {scope, key, hash, now}));
    if (n == 1) return Status::Ok();
    KEEL_ASSIGN_OR_RETURN(SqlRows r, t.Query("SELECT request_hash, status, body, created_at FROM "
                                             "idempotency WHERE scope = $1 AND key = $2",
                                             {scope, key}));
    if (r.empty()) return Status::Unavailable("idempotency key vanished", "db_conflict");
    const Millis age = now - r[0].Int(3);
    const bool stale = age > kKeepMs || (r[0].Int(1) == 0 && age > kStaleInFlightMs);
    if (stale) {
      // Expired, or left in flight by a process that died: this request takes it over.
      return t
          .Exec(
              "UPDATE idempotency SET request_hash = $3, status = 0, body = '', created_at = $4 "
              "WHERE scope = $1 AND key = $2",
              {scope, key, hash, now})
          .status();
    }
    // Keys stored before fingerprints were keyed hold a plain SHA-256 of the request.
    const std::string stored = r[0].Text(0);
    const bool same =
        stored == hash || (stored.rfind("h1:", 0) != 0 && stored == Sha256Hex(request));
    if (!same) {
      outcome = kMismatch;
    } else if (r[0].Int(1) == 0) {
      outcome = kInFlight;
    } else {
      outcome = kReplay;
      stored_status = static_cast<int>(r[0].Int(1));
      stored_body = r[0].Text(2);
    }
    return Status::Ok();
  });
  if (!claimed.ok()) return StatusResponse(claimed);
  if (outcome == kMismatch) {
    return ErrorResponse(400, "idempotency_error",
                         "this Idempotency-Key was used with a different request");
  }
  if (outcome == kInFlight) {
    return ErrorResponse(409, "idempotency_key_in_use",
                         "a request with this Idempotency-Key is still in progress; retry later");
  }
  if (outcome == kReplay) {
    Response res{static_cast<bhttp::status>(stored_status), 11};
    res.set(bhttp::field::content_type, "application/json");
    res.set("Idempotent-Replayed", "true");
    res.body() = stored_body;
    return res;
  }
  Response res = run();
  unsigned code = res.result_int();
  Status saved = db_->Transact([&](SqlTxn& t) {
    if (code >= 500 || res.find(bhttp::field::retry_after) != res.end()) {
      // A failure that may pass, or a reply that says to come back later (429, or a
      // 409 for a checkout of the same cart still running): not the key's answer, so
      // the retry runs again.
      return t.Exec("DELETE FROM idempotency WHERE scope = $1 AND key = $2", {scope, key}).status();
    }
    return t
        .Exec("UPDATE idempotency SET status = $3, body = $4 WHERE scope = $1 AND key = $2",
              {scope, key, static_cast<int64_t>(code), res.body()})
        .status();
  });
  if (!saved.ok()) return StatusResponse(saved);
  return res;
}

Result<int64_t> IdempotencyKeys::Prune() {
  KEEL_RETURN_IF_ERROR(EnsureSchema());
  int64_t pruned = 0;
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(
        pruned, t.Exec("DELETE FROM idempotency WHERE created_at < $1", {clock_->Now() - kKeepMs}));
    return Status::Ok();
  }));
  CountPruned("idempotency_keys", db_->name(), pruned);
  return pruned;
}

}  // namespace keel::http
